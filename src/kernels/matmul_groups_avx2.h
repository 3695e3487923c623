// Weights in 16-row interleaved groups (kernels/repack.h): the AVX2 kernels over them
// (matmul_groups_avx2_simd.cc).
#pragma once

#include <cstdint>

#include "kernels/matmul.h"
#include "tensor/tensor_view.h"

namespace flotilla {

// y[t, 16g + r] = dot(row 16g + r of w, x_t) for groups g in [g0, g1), r < 16 and every token of a;
// y: [a.n_tokens, w.n_rows()]. w.dtype has an interleaved layout (Q8_0, Q4_0, Q4_K, Q6_K, F32, F16,
// BF16) and w.rows16 is set; a is packed for it (PackActivations). Only the AVX2 target has these
// kernels, so only its matmul kernels call this.
void MatMulGroupsAvx2(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1);

}  // namespace flotilla
