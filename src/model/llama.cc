// The llama-family forward pass (llama, and qwen2, which adds Q/K/V biases and rotates NEOX-style).
// Reads top to bottom; shapes in comments use n = tokens in the batch.
#include <algorithm>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/context.h"

namespace flotilla {
namespace {

void AddBias(float* x, const std::vector<float>& bias, int32_t n) {
  if (bias.empty()) return;
  const int64_t width = static_cast<int64_t>(bias.size());
  for (int32_t i = 0; i < n; ++i) AddInPlace(x + i * width, bias.data(), width);
}

}  // namespace

void Context::ForwardBatch(const int32_t* tokens, int32_t n, bool all_logits, float* logits_out) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const int64_t d = c.n_embd, dkv = n_embd_kv_, ff = c.n_ff;
  const RopeParams rope{c.arch == Arch::kQwen2 ? RopeMode::kNeox : RopeMode::kNorm,
                        c.n_rot > 0 ? c.n_rot : c.head_dim(), c.rope_freq_base,
                        w.rope_freqs.empty() ? nullptr : w.rope_freqs.data()};

  std::vector<float> x(n * d), xn(n * d), q(n * d), k(n * dkv), v(n * dkv), attn(n * d), proj(n * d);
  std::vector<float> gate(n * ff), up(n * ff);
  for (int32_t i = 0; i < n; ++i) GetRow(w.token_embd, tokens[i], x.data() + i * d);  // x: [n, d]

  for (int layer = 0; layer < c.n_layer; ++layer) {
    const LayerWeights& lw = w.layers[layer];
    // Attention block: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
    for (int32_t i = 0; i < n; ++i) RmsNorm(x.data() + i * d, lw.attn_norm.data(), d, c.rms_norm_eps, xn.data() + i * d);
    MatMul(pool_, lw.wq, xn.data(), n, q.data());  // q: [n, d]
    MatMul(pool_, lw.wk, xn.data(), n, k.data());  // k: [n, dkv]
    MatMul(pool_, lw.wv, xn.data(), n, v.data());  // v: [n, dkv]
    AddBias(q.data(), lw.bq, n);
    AddBias(k.data(), lw.bk, n);
    AddBias(v.data(), lw.bv, n);
    for (int32_t i = 0; i < n; ++i) {
      Rope(q.data() + i * d, c.n_head, c.head_dim(), n_past_ + i, rope);
      Rope(k.data() + i * dkv, c.n_head_kv, c.head_dim(), n_past_ + i, rope);
    }
    StoreKv(layer, n, k.data(), v.data());
    Attention(layer, n, q.data(), attn.data());  // attn: [n, d]
    MatMul(pool_, lw.wo, attn.data(), n, proj.data());
    AddInPlace(x.data(), proj.data(), n * d);

    // Feed-forward block: x += W_down · (silu(W_gate·norm(x)) * W_up·norm(x))
    for (int32_t i = 0; i < n; ++i) RmsNorm(x.data() + i * d, lw.ffn_norm.data(), d, c.rms_norm_eps, xn.data() + i * d);
    MatMul(pool_, lw.ffn_gate, xn.data(), n, gate.data());  // gate: [n, ff]
    MatMul(pool_, lw.ffn_up, xn.data(), n, up.data());      // up: [n, ff]
    SwiGlu(gate.data(), up.data(), n * ff, gate.data());
    MatMul(pool_, lw.ffn_down, gate.data(), n, proj.data());  // proj: [n, d]
    AddInPlace(x.data(), proj.data(), n * d);
  }
  n_past_ += n;
  if (!logits_out) return;

  // Output head on every row, or on the last row only.
  const int32_t first = all_logits ? 0 : n - 1;
  const int32_t rows = n - first;
  for (int32_t i = first; i < n; ++i) {
    RmsNorm(x.data() + i * d, w.output_norm.data(), d, c.rms_norm_eps, xn.data() + (i - first) * d);
  }
  MatMul(pool_, w.output, xn.data(), rows, logits_out);  // logits: [rows, n_vocab]
}

}  // namespace flotilla
