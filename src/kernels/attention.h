// Attention inner loops over a KV cache stored as F16 or F32 rows (dispatched SIMD).
#pragma once

#include <cstdint>

namespace flotilla {

// scores[p] = scale * dot(q, k + p * stride) for p < n_keys; k rows hold head_dim values of F16
// (f16 = true) or F32. q: [head_dim] floats.
void AttnScores(const float* q, const void* k, int64_t stride, int32_t n_keys, int32_t head_dim, float scale,
                bool f16, float* scores);

// out[d] = sum_p w[p] * v[p * stride + d] for d < head_dim (out is overwritten).
void AttnWeightedSum(const float* w, const void* v, int64_t stride, int32_t n_keys, int32_t head_dim, bool f16,
                     float* out);

}  // namespace flotilla
