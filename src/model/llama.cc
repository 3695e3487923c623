// The llama-family forward pass (llama, and qwen2, which adds Q/K/V biases and rotates NEOX-style).
// Reads top to bottom; shapes in comments use n = token rows in the pass (of all its sequences).
#include <algorithm>
#include <initializer_list>
#include <span>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/context.h"

namespace flotilla {
namespace {

// outs[j].y = outs[j].w · x for each j, x: [n, n_in]. When all weights share a SIMD dot type the
// activations are packed once and every product runs in one parallel region.
void Project(ThreadPool& pool, PackedActs& acts, const float* x, int32_t n,
             std::initializer_list<MatMulOut> outs) {
  const DType first = outs.begin()->w->dtype;
  bool shared = HasSimdMatMul(first);
  for (const MatMulOut& o : outs) shared = shared && HasSimdMatMul(o.w->dtype) && VecDotType(o.w->dtype) == VecDotType(first);
  if (!shared) {
    for (const MatMulOut& o : outs) MatMul(pool, *o.w, x, n, o.y);
    return;
  }
  PackActivations(first, x, n, outs.begin()->w->row_len(), &acts, &pool);
  MatMulPacked(pool, std::span<const MatMulOut>(outs.begin(), outs.size()), acts);
}

// y = w_down · (silu(gate) * up), gate and up: [n, ff], y: [n, w_down rows]; gate is overwritten. When
// w_down has a SIMD kernel the product of the activations is computed and packed in one parallel region.
void DownProject(ThreadPool& pool, PackedActs& acts, const TensorView& w_down, float* gate, const float* up,
                 int32_t n, int64_t ff, float* y) {
  if (HasSimdMatMul(w_down.dtype)) {
    PackSwiGlu(w_down.dtype, gate, up, n, ff, &acts, pool);
    const MatMulOut out{&w_down, y};
    MatMulPacked(pool, std::span<const MatMulOut>(&out, 1), acts);
    return;
  }
  pool.ParallelFor(n, [&](int64_t begin, int64_t end) {
    SwiGluSimd(gate + begin * ff, up + begin * ff, (end - begin) * ff, gate + begin * ff);
  });
  MatMul(pool, w_down, gate, n, y);
}

template <typename T>
void Grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

// x[0, n) += bias[first, first + n) when the layer has a bias.
void AddBias(float* x, const std::vector<float>& bias, int64_t first, int64_t n) {
  if (!bias.empty()) AddInPlaceSimd(x, bias.data() + first, n);
}

// x[r] += add[r] (when add is not null), then xn[r] = RmsNorm(x[r]) for rows r < n; rows split across
// the pool. x, add, xn: [n, d].
void AddNormRows(ThreadPool& pool, float* x, const float* add, const std::vector<float>& weight, int32_t n,
                 int64_t d, float eps, float* xn) {
  pool.ParallelFor(n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      AddRmsNormSimd(x + r * d, add ? add + r * d : nullptr, weight.data(), d, eps, xn + r * d);
    }
  });
}

}  // namespace

void ReserveForwardScratch(const ModelConfig& c, int32_t rows, ForwardScratch* s) {
  const int64_t d = c.n_embd, dkv = int64_t{c.n_head_kv} * c.head_dim(), ff = c.n_ff;
  for (auto* buf : {&s->x, &s->xn, &s->q, &s->attn, &s->proj}) Grow(*buf, rows * d);
  for (auto* buf : {&s->k, &s->v}) Grow(*buf, rows * dkv);
  for (auto* buf : {&s->gate, &s->up}) Grow(*buf, rows * ff);
}

void Context::Forward(const Model& model, ThreadPool& pool, std::span<const Segment> segs, ForwardScratch& s,
                      float* logits_out, float* hidden_out) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  const int64_t d = c.n_embd, dkv = int64_t{c.n_head_kv} * c.head_dim(), ff = c.n_ff;
  const RopeParams rope{c.arch == Arch::kQwen2 ? RopeMode::kNeox : RopeMode::kNorm,
                        c.n_rot > 0 ? c.n_rot : c.head_dim(), c.rope_freq_base,
                        w.rope_freqs.empty() ? nullptr : w.rope_freqs.data()};
  int32_t n = 0;
  for (const Segment& seg : segs) n += seg.n;

  ReserveForwardScratch(c, n, &s);
  std::vector<float>&x = s.x, &xn = s.xn, &q = s.q, &k = s.k, &v = s.v, &attn = s.attn, &proj = s.proj;
  std::vector<float>&gate = s.gate, &up = s.up;
  // Each row's context and position.
  s.row_ctx.resize(static_cast<size_t>(n));
  s.row_pos.resize(static_cast<size_t>(n));
  for (int32_t r = 0; const Segment& seg : segs) {  // x: [n, d]
    for (int32_t i = 0; i < seg.n; ++i, ++r) {
      EmbedToken(w, seg.tokens[i], x.data() + r * d);
      s.row_ctx[r] = seg.ctx;
      s.row_pos[r] = seg.ctx->n_past_ + i;
    }
  }
  // The rotation angles depend only on the position, so every layer shares them.
  s.row_angles.resize(static_cast<size_t>(n) * rope.n_rot);
  pool.ParallelFor(n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      RopeAngles(c.head_dim(), s.row_pos[r], rope, s.row_angles.data() + r * rope.n_rot);
  });

  for (int layer = 0; layer < c.n_layer; ++layer) {
    const LayerWeights& lw = w.layers[layer];
    // Attention block: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x)). The
    // previous layer's feed-forward output (proj) is added to x here, fused with the norm.
    AddNormRows(pool, x.data(), layer > 0 ? proj.data() : nullptr, lw.attn_norm, n, d, c.rms_norm_eps, xn.data());
    // q: [n, d], k: [n, dkv], v: [n, dkv]
    Project(pool, s.acts, xn.data(), n, {{&lw.wq, q.data()}, {&lw.wk, k.data()}, {&lw.wv, v.data()}});
    // Biases, rotation at each row's own position, and the K/V rows into each row's cache, for rows
    // [r0, r0 + rn) and key/value heads [h0, h1) with their query heads. Decoding, each attention
    // work item does it for its own rows and heads; otherwise a parallel loop over rows does it first.
    const int32_t head_dim = c.head_dim(), group = c.n_head / c.n_head_kv;
    const Context::PrepareRows prepare = [&](int32_t r0, int32_t rn, int32_t h0, int32_t h1) {
      const int64_t qe0 = int64_t{h0} * group * head_dim, qn = int64_t{h1 - h0} * group * head_dim;
      const int64_t ke0 = int64_t{h0} * head_dim, kn = int64_t{h1 - h0} * head_dim;
      for (int32_t r = r0; r < r0 + rn; ++r) {
        const float* cs = s.row_angles.data() + int64_t{r} * rope.n_rot;
        float *qr = q.data() + r * d + qe0, *kr = k.data() + r * dkv, *vr = v.data() + r * dkv;
        AddBias(qr, lw.bq, qe0, qn);
        AddBias(kr + ke0, lw.bk, ke0, kn);
        AddBias(vr + ke0, lw.bv, ke0, kn);
        RopeWithAngles(qr, (h1 - h0) * group, head_dim, cs, rope);
        RopeWithAngles(kr + ke0, h1 - h0, head_dim, cs, rope);
        s.row_ctx[r]->StoreKvRow(layer, s.row_pos[r], kr, vr, h0, h1);
      }
    };
    const bool prepare_in_items = Context::AttentionItemsHoldWholeSegments(segs);
    if (!prepare_in_items) {
      pool.ParallelFor(n, [&](int64_t begin, int64_t end) {
        prepare(static_cast<int32_t>(begin), static_cast<int32_t>(end - begin), 0, c.n_head_kv);
      });
    }
    // attn: [n, d]
    Attention(pool, layer, segs, n, q.data(), attn.data(), prepare_in_items ? &prepare : nullptr);
    Project(pool, s.acts, attn.data(), n, {{&lw.wo, proj.data()}});

    // Feed-forward block: x += W_down · (silu(W_gate·norm(x)) * W_up·norm(x))
    AddNormRows(pool, x.data(), proj.data(), lw.ffn_norm, n, d, c.rms_norm_eps, xn.data());
    // gate: [n, ff], up: [n, ff]
    Project(pool, s.acts, xn.data(), n, {{&lw.ffn_gate, gate.data()}, {&lw.ffn_up, up.data()}});
    DownProject(pool, s.acts, lw.ffn_down, gate.data(), up.data(), n, ff, proj.data());  // proj: [n, d]
  }
  pool.ParallelFor(n, [&](int64_t begin, int64_t end) {  // the last feed-forward output
    AddInPlaceSimd(x.data() + begin * d, proj.data() + begin * d, (end - begin) * d);
  });
  for (const Segment& seg : segs) seg.ctx->n_past_ += seg.n;

  // Output norm on the rows each segment wants: hidden rows straight to hidden_out, logit rows
  // gathered in xn ([rows, d]) for one output-head product over all segments.
  int32_t logit_rows = 0;
  for (int32_t r = 0; const Segment& seg : segs) {
    const int32_t first = seg.output == EvalOutput::kLastLogits ? seg.n - 1 : seg.output == EvalOutput::kNone ? seg.n : 0;
    for (int32_t i = first; i < seg.n; ++i) {
      const float* row = x.data() + (r + i) * d;
      if (seg.output == EvalOutput::kHidden) {
        if (!hidden_out) continue;
        RmsNorm(row, w.output_norm.data(), d, c.rms_norm_eps, hidden_out);
        hidden_out += d;
      } else if (logits_out) {
        RmsNorm(row, w.output_norm.data(), d, c.rms_norm_eps, xn.data() + logit_rows++ * d);
      }
    }
    r += seg.n;
  }
  if (logit_rows > 0) Project(pool, s.acts, xn.data(), logit_rows, {{&w.output, logits_out}});  // [rows, n_vocab]
}

}  // namespace flotilla
