// Forward and backward passes of the llama-family operations, F32, for training. Each backward takes
// the forward's saved inputs/outputs and the gradient of the loss with respect to the forward's
// output, and returns (or accumulates, where stated) the gradients of its inputs and parameters.
// Shapes in comments: n = tokens (B * T), d = width of a row.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/ops.h"

namespace flotilla::train {

// y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps). x, y: [n, d]; rstd: [n] (saved for backward).
void RmsNormForward(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y, float* rstd);
// dx = (accumulated into when accumulate) the input gradient; dw += the weight gradient (none when
// dw is null: a frozen weight).
void RmsNormBackward(const float* dy, const float* x, const float* w, const float* rstd, int64_t n, int64_t d,
                     float* dx, float* dw, bool accumulate_dx);

// RoPE tables for positions [0, n_pos): cos and sin of each pair's angle: [n_pos, n_rot / 2], with the
// angles computed as the inference kernel (kernels/ops.h Rope) computes them.
struct RopeTable {
  RopeParams params;
  int32_t n_pos = 0;
  std::vector<float> cos, sin;
};
RopeTable MakeRopeTable(const RopeParams& params, int32_t head_dim, int32_t n_pos);
// Rotates x ([B * T, n_heads * head_dim]; token t of a sequence at position t) in place: forward with
// inverse=false; with inverse=true it applies the transposed rotation, which is RoPE's backward.
void RopeApply(const RopeTable& table, float* x, int64_t batch, int64_t seq, int32_t n_heads, int32_t head_dim,
               bool inverse);

// Causal multi-head attention with grouped KV heads, per sequence of `seq` tokens.
// q: [B*T, n_head*hd], k, v: [B*T, n_head_kv*hd], out: [B*T, n_head*hd];
// probs: [B, n_head, T, T] softmax weights saved for backward (row i has entries 0..i).
struct AttnShape {
  int64_t batch, seq;
  int32_t n_head, n_head_kv, head_dim;
};
void AttentionForward(ThreadPool& pool, const AttnShape& s, const float* q, const float* k, const float* v,
                      float* probs, float* out);
// dq, dk, dv are overwritten.
void AttentionBackward(ThreadPool& pool, const AttnShape& s, const float* q, const float* k, const float* v,
                       const float* probs, const float* dout, float* dq, float* dk, float* dv);

// h = silu(gate) * up, all [n] elements.
void SwiGluForward(const float* gate, const float* up, int64_t n, float* h);
void SwiGluBackward(const float* dh, const float* gate, const float* up, int64_t n, float* dgate, float* dup);

// Cross-entropy of logits rows ([n, n_vocab]) against targets (-1: not counted). Returns the summed loss
// of the counted rows; when dlogits is not null writes scale * d(loss)/d(logits) into it (it may alias
// logits), with zero rows for uncounted targets.
double CrossEntropy(ThreadPool& pool, const float* logits, const int32_t* targets, int64_t n, int64_t n_vocab,
                    float scale, float* dlogits);

}  // namespace flotilla::train
