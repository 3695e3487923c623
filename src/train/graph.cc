#include "train/graph.h"

#include <algorithm>
#include <cstring>

#include "train/gemm.h"

namespace flotilla::train {
namespace {

constexpr int64_t kHeadChunk = 256;  // rows of logits alive at once

std::vector<float> Buf(int64_t n) { return std::vector<float>(static_cast<size_t>(n)); }

void AddBias(float* x, const std::vector<float>& bias, int64_t n) {
  if (bias.empty()) return;
  const int64_t w = static_cast<int64_t>(bias.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < w; ++j) x[i * w + j] += bias[j];
  }
}

// db += column sums of dy ([n, width]); nothing when db is empty (no bias).
void BiasBackward(const float* dy, int64_t n, std::vector<float>& db) {
  const int64_t w = static_cast<int64_t>(db.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < w; ++j) db[j] += dy[i * w + j];
  }
}

void Add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

TrainGraph::TrainGraph(const ModelConfig& config, int64_t batch, int64_t seq, ThreadPool& pool,
                       const std::vector<float>& rope_freqs)
    : c_(config), batch_(batch), seq_(seq), n_(batch * seq), d_(config.n_embd),
      dkv_(int64_t{config.n_head_kv} * config.head_dim()), ff_(config.n_ff), pool_(pool) {
  const RopeParams rp{config.arch == Arch::kQwen2 ? RopeMode::kNeox : RopeMode::kNorm,
                      config.n_rot > 0 ? config.n_rot : config.head_dim(), config.rope_freq_base,
                      rope_freqs.empty() ? nullptr : rope_freqs.data()};
  rope_ = MakeRopeTable(rp, config.head_dim(), static_cast<int32_t>(seq));
  attn_shape_ = {batch, seq, config.n_head, config.n_head_kv, config.head_dim()};
  const int64_t n = n_, d = d_, dkv = dkv_, ff = ff_;
  acts_.resize(static_cast<size_t>(config.n_layer));
  for (LayerActs& a : acts_) {
    a.x_in = Buf(n * d), a.xn1 = Buf(n * d), a.rstd1 = Buf(n), a.q = Buf(n * d), a.k = Buf(n * dkv);
    a.v = Buf(n * dkv), a.probs = Buf(batch * config.n_head * seq * seq), a.att = Buf(n * d);
    a.x_mid = Buf(n * d), a.xn2 = Buf(n * d), a.rstd2 = Buf(n), a.gate = Buf(n * ff), a.up = Buf(n * ff);
    a.h = Buf(n * ff);
  }
  x_out_ = Buf(n * d), xnf_ = Buf(n * d), rstdf_ = Buf(n);
  dx_ = Buf(n * d), dxn_ = Buf(n * d), datt_ = Buf(n * d), dq_ = Buf(n * d), dk_ = Buf(n * dkv);
  dv_ = Buf(n * dkv), dh_ = Buf(n * ff), dgate_ = Buf(n * ff), dup_ = Buf(n * ff);
  logits_ = Buf(std::min(n, kHeadChunk) * config.n_vocab);
}

void TrainGraph::ForwardBody(const ModelParams& p, const int32_t* tokens) {
  const int64_t n = n_, d = d_, dkv = dkv_, ff = ff_;
  const float eps = c_.rms_norm_eps;
  // x: [n, d] token embeddings, then the residual stream.
  float* x = acts_.empty() ? x_out_.data() : acts_[0].x_in.data();
  for (int64_t i = 0; i < n; ++i) std::memcpy(x + i * d, p.token_embd.data() + int64_t{tokens[i]} * d, d * 4);
  for (size_t l = 0; l < acts_.size(); ++l) {
    const LayerParams& w = p.layers[l];
    LayerActs& a = acts_[l];
    // Attention block: x_mid = x_in + Wo · attention(rope(q), rope(k), v) of norm(x_in).
    RmsNormForward(a.x_in.data(), w.attn_norm.data(), n, d, eps, a.xn1.data(), a.rstd1.data());
    LinearForward(pool_, a.xn1.data(), w.wq.data(), n, d, d, a.q.data(), scratch_);  // q: [n, d]
    LinearForward(pool_, a.xn1.data(), w.wk.data(), n, d, dkv, a.k.data(), scratch_);  // k: [n, dkv]
    LinearForward(pool_, a.xn1.data(), w.wv.data(), n, d, dkv, a.v.data(), scratch_);  // v: [n, dkv]
    LoraForward(l, LoraTarget::kAttnQ, a.xn1.data(), a.q.data());
    LoraForward(l, LoraTarget::kAttnK, a.xn1.data(), a.k.data());
    LoraForward(l, LoraTarget::kAttnV, a.xn1.data(), a.v.data());
    AddBias(a.q.data(), w.bq, n);
    AddBias(a.k.data(), w.bk, n);
    AddBias(a.v.data(), w.bv, n);
    RopeApply(rope_, a.q.data(), batch_, seq_, c_.n_head, c_.head_dim(), false);
    RopeApply(rope_, a.k.data(), batch_, seq_, c_.n_head_kv, c_.head_dim(), false);
    AttentionForward(pool_, attn_shape_, a.q.data(), a.k.data(), a.v.data(), a.probs.data(), a.att.data());
    LinearForward(pool_, a.att.data(), w.wo.data(), n, d, d, a.x_mid.data(), scratch_);
    LoraForward(l, LoraTarget::kAttnOutput, a.att.data(), a.x_mid.data());
    Add(a.x_mid.data(), a.x_in.data(), n * d);
    // Feed-forward block: x_out = x_mid + W_down · (silu(W_gate · xn2) * W_up · xn2), xn2 = norm(x_mid).
    RmsNormForward(a.x_mid.data(), w.ffn_norm.data(), n, d, eps, a.xn2.data(), a.rstd2.data());
    LinearForward(pool_, a.xn2.data(), w.ffn_gate.data(), n, d, ff, a.gate.data(), scratch_);  // [n, ff]
    LinearForward(pool_, a.xn2.data(), w.ffn_up.data(), n, d, ff, a.up.data(), scratch_);      // [n, ff]
    LoraForward(l, LoraTarget::kFfnGate, a.xn2.data(), a.gate.data());
    LoraForward(l, LoraTarget::kFfnUp, a.xn2.data(), a.up.data());
    SwiGluForward(a.gate.data(), a.up.data(), n * ff, a.h.data());
    float* next = l + 1 < acts_.size() ? acts_[l + 1].x_in.data() : x_out_.data();
    LinearForward(pool_, a.h.data(), w.ffn_down.data(), n, ff, d, next, scratch_);
    LoraForward(l, LoraTarget::kFfnDown, a.h.data(), next);
    Add(next, a.x_mid.data(), n * d);
  }
  RmsNormForward(x_out_.data(), p.output_norm.data(), n, d, eps, xnf_.data(), rstdf_.data());
}

LossSum TrainGraph::Head(const ModelParams& p, const int32_t* targets, float scale, bool backward,
                         ModelParams* grads) {
  const int64_t d = d_, nv = c_.n_vocab;
  const std::vector<float>& w_out = c_.tied_output ? p.token_embd : p.output;  // [nv, d]
  if (w_t_.size() < static_cast<size_t>(nv * d)) w_t_.resize(static_cast<size_t>(nv * d));
  Transpose(pool_, w_out.data(), nv, d, w_t_.data());  // [d, nv]
  LossSum loss;
  for (int64_t i = 0; i < n_; ++i) loss.count += targets[i] >= 0;
  for (int64_t r0 = 0; r0 < n_; r0 += kHeadChunk) {
    const int64_t rows = std::min(kHeadChunk, n_ - r0);
    const float* xn = xnf_.data() + r0 * d;
    Gemm(pool_, rows, nv, d, xn, d, w_t_.data(), nv, logits_.data(), nv, false);  // logits: [rows, nv]
    float* dlogits = backward ? logits_.data() : nullptr;  // in place
    loss.sum += CrossEntropy(pool_, logits_.data(), targets + r0, rows, nv, scale, dlogits);
    if (!backward) continue;
    LinearBackwardX(pool_, dlogits, w_out.data(), rows, d, nv, dxn_.data() + r0 * d, false);
    if (!grads) continue;
    std::vector<float>& dw = c_.tied_output ? grads->token_embd : grads->output;
    LinearBackwardW(pool_, dlogits, xn, rows, d, nv, dw.data(), scratch_);
  }
  return loss;
}

LossSum TrainGraph::Forward(const ModelParams& p, const int32_t* tokens, const int32_t* targets) {
  lora_ = nullptr;
  ForwardBody(p, tokens);
  return Head(p, targets, 0.0f, false, nullptr);
}

LossSum TrainGraph::ForwardBackward(const ModelParams& p, const int32_t* tokens, const int32_t* targets,
                                    float scale, ModelParams& grads) {
  lora_ = nullptr;
  ForwardBody(p, tokens);
  LossSum loss = Head(p, targets, scale, true, &grads);  // dxn_ = d(loss)/d(xnf)
  BodyBackward(p, tokens, &grads);
  return loss;
}

const float* TrainGraph::ForwardHidden(const ModelParams& p, const int32_t* tokens) {
  lora_ = nullptr;
  ForwardBody(p, tokens);
  return xnf_.data();
}

void TrainGraph::BackwardHidden(const ModelParams& p, const int32_t* tokens, const float* dhidden,
                                ModelParams& grads) {
  std::memcpy(dxn_.data(), dhidden, static_cast<size_t>(n_ * d_) * sizeof(float));
  BodyBackward(p, tokens, &grads);
}

LossSum TrainGraph::Forward(const ModelParams& p, const LoraParams& lora, const int32_t* tokens,
                            const int32_t* targets) {
  lora_ = &lora;
  ForwardBody(p, tokens);
  return Head(p, targets, 0.0f, false, nullptr);
}

LossSum TrainGraph::ForwardBackwardLora(const ModelParams& p, const LoraParams& lora, const int32_t* tokens,
                                        const int32_t* targets, float scale, LoraParams& lora_grads) {
  lora_ = &lora;
  ForwardBody(p, tokens);
  LossSum loss = Head(p, targets, scale, true, nullptr);
  lora_grads_ = &lora_grads;
  BodyBackward(p, tokens, nullptr);
  lora_grads_ = nullptr;
  return loss;
}

const float* TrainGraph::ForwardHidden(const ModelParams& p, const LoraParams& lora, const int32_t* tokens) {
  lora_ = &lora;
  ForwardBody(p, tokens);
  return xnf_.data();
}

void TrainGraph::BackwardHiddenLora(const ModelParams& p, const LoraParams& lora, const int32_t* tokens,
                                    const float* dhidden, LoraParams& lora_grads) {
  CHECK(lora_ == &lora);  // the forward pass saved this adapter's activations
  std::memcpy(dxn_.data(), dhidden, static_cast<size_t>(n_ * d_) * sizeof(float));
  lora_grads_ = &lora_grads;
  BodyBackward(p, tokens, nullptr);
  lora_grads_ = nullptr;
}

void TrainGraph::LoraForward(size_t layer, LoraTarget t, const float* x, float* y) {
  if (!lora_ || lora_->at(layer, t).empty()) return;
  const LoraPair& ab = lora_->at(layer, t);
  int64_t in = 0, out = 0;
  LoraModuleShape(c_, static_cast<int>(t), &in, &out);
  const int64_t r = lora_->rank, n = n_;
  const size_t slot = layer * kNumLoraModules + static_cast<size_t>(t);
  if (lora_u_.size() <= slot) lora_u_.resize(acts_.size() * kNumLoraModules);
  std::vector<float>& u = lora_u_[slot];
  u.resize(static_cast<size_t>(n * r));
  LinearForward(pool_, x, ab.a.data(), n, in, r, u.data(), scratch_);  // u = x A^T: [n, r]
  const float s = lora_->scale();
  for (float& v : u) v *= s;
  if (scratch_.size() < static_cast<size_t>(r * out)) scratch_.resize(static_cast<size_t>(r * out));
  Transpose(ab.b.data(), out, r, scratch_.data());  // B^T: [r, out]
  Gemm(pool_, n, out, r, u.data(), r, scratch_.data(), out, y, out, /*accumulate=*/true);
}

void TrainGraph::LoraBackward(size_t layer, LoraTarget t, const float* dy, const float* x, float* dx) {
  if (!lora_ || !lora_grads_ || lora_->at(layer, t).empty()) return;
  const LoraPair& ab = lora_->at(layer, t);
  LoraPair& g = lora_grads_->at(layer, t);
  int64_t in = 0, out = 0;
  LoraModuleShape(c_, static_cast<int>(t), &in, &out);
  const int64_t r = lora_->rank, n = n_;
  const std::vector<float>& u = lora_u_[layer * kNumLoraModules + static_cast<size_t>(t)];  // s x A^T
  LinearBackwardW(pool_, dy, u.data(), n, r, out, g.b.data(), scratch_);  // dB += dy^T (s x A^T)
  lora_g_.resize(static_cast<size_t>(n * r));
  LinearBackwardX(pool_, dy, ab.b.data(), n, r, out, lora_g_.data(), false);  // dy B: [n, r]
  const float s = lora_->scale();
  for (float& v : lora_g_) v *= s;
  LinearBackwardW(pool_, lora_g_.data(), x, n, in, r, g.a.data(), scratch_);  // dA += (s dy B)^T x
  LinearBackwardX(pool_, lora_g_.data(), ab.a.data(), n, in, r, dx, true);    // dx += (s dy B) A
}

void TrainGraph::BodyBackward(const ModelParams& p, const int32_t* tokens, ModelParams* grads) {
  RmsNormBackward(dxn_.data(), x_out_.data(), p.output_norm.data(), rstdf_.data(), n_, d_, dx_.data(),
                  grads ? grads->output_norm.data() : nullptr, /*accumulate_dx=*/false);
  for (size_t l = acts_.size(); l-- > 0;) {
    LayerBackward(l, p.layers[l], acts_[l], grads ? &grads->layers[l] : nullptr);
  }
  if (!grads) return;  // frozen base
  // Embedding: each row of dx goes back to its token's row, in token order (deterministic).
  const float* dx = dx_.data();
  for (int64_t i = 0; i < n_; ++i) {
    Add(grads->token_embd.data() + int64_t{tokens[i]} * d_, dx + i * d_, d_);
  }
}

// On entry dx_ = d(loss)/d(layer output); on exit d(loss)/d(layer input). g null: frozen base.
void TrainGraph::LayerBackward(size_t l, const LayerParams& w, LayerActs& a, LayerParams* g) {
  const int64_t n = n_, d = d_, dkv = dkv_, ff = ff_;
  // Feed-forward block. dh = dx · W_down, dW_down += dx^T · h.
  LinearBackwardX(pool_, dx_.data(), w.ffn_down.data(), n, ff, d, dh_.data(), false);
  LoraBackward(l, LoraTarget::kFfnDown, dx_.data(), a.h.data(), dh_.data());
  if (g) LinearBackwardW(pool_, dx_.data(), a.h.data(), n, ff, d, g->ffn_down.data(), scratch_);
  SwiGluBackward(dh_.data(), a.gate.data(), a.up.data(), n * ff, dgate_.data(), dup_.data());
  LinearBackwardX(pool_, dgate_.data(), w.ffn_gate.data(), n, d, ff, dxn_.data(), false);
  LinearBackwardX(pool_, dup_.data(), w.ffn_up.data(), n, d, ff, dxn_.data(), true);
  LoraBackward(l, LoraTarget::kFfnGate, dgate_.data(), a.xn2.data(), dxn_.data());
  LoraBackward(l, LoraTarget::kFfnUp, dup_.data(), a.xn2.data(), dxn_.data());
  if (g) {
    LinearBackwardW(pool_, dgate_.data(), a.xn2.data(), n, d, ff, g->ffn_gate.data(), scratch_);
    LinearBackwardW(pool_, dup_.data(), a.xn2.data(), n, d, ff, g->ffn_up.data(), scratch_);
  }
  // The residual passes dx through; the norm's gradient adds to it.
  RmsNormBackward(dxn_.data(), a.x_mid.data(), w.ffn_norm.data(), a.rstd2.data(), n, d, dx_.data(),
                  g ? g->ffn_norm.data() : nullptr, /*accumulate_dx=*/true);

  // Attention block.
  LinearBackwardX(pool_, dx_.data(), w.wo.data(), n, d, d, datt_.data(), false);
  LoraBackward(l, LoraTarget::kAttnOutput, dx_.data(), a.att.data(), datt_.data());
  if (g) LinearBackwardW(pool_, dx_.data(), a.att.data(), n, d, d, g->wo.data(), scratch_);
  AttentionBackward(pool_, attn_shape_, a.q.data(), a.k.data(), a.v.data(), a.probs.data(), datt_.data(),
                    dq_.data(), dk_.data(), dv_.data());
  RopeApply(rope_, dq_.data(), batch_, seq_, c_.n_head, c_.head_dim(), /*inverse=*/true);
  RopeApply(rope_, dk_.data(), batch_, seq_, c_.n_head_kv, c_.head_dim(), /*inverse=*/true);
  LinearBackwardX(pool_, dq_.data(), w.wq.data(), n, d, d, dxn_.data(), false);
  LinearBackwardX(pool_, dk_.data(), w.wk.data(), n, d, dkv, dxn_.data(), true);
  LinearBackwardX(pool_, dv_.data(), w.wv.data(), n, d, dkv, dxn_.data(), true);
  LoraBackward(l, LoraTarget::kAttnQ, dq_.data(), a.xn1.data(), dxn_.data());
  LoraBackward(l, LoraTarget::kAttnK, dk_.data(), a.xn1.data(), dxn_.data());
  LoraBackward(l, LoraTarget::kAttnV, dv_.data(), a.xn1.data(), dxn_.data());
  if (g) {
    BiasBackward(dq_.data(), n, g->bq);
    BiasBackward(dk_.data(), n, g->bk);
    BiasBackward(dv_.data(), n, g->bv);
    LinearBackwardW(pool_, dq_.data(), a.xn1.data(), n, d, d, g->wq.data(), scratch_);
    LinearBackwardW(pool_, dk_.data(), a.xn1.data(), n, d, dkv, g->wk.data(), scratch_);
    LinearBackwardW(pool_, dv_.data(), a.xn1.data(), n, d, dkv, g->wv.data(), scratch_);
  }
  RmsNormBackward(dxn_.data(), a.x_in.data(), w.attn_norm.data(), a.rstd1.data(), n, d, dx_.data(),
                  g ? g->attn_norm.data() : nullptr, /*accumulate_dx=*/true);
}

}  // namespace flotilla::train
