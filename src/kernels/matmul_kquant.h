// Q4_K and Q6_K weights in 16-row interleaved groups (layouts and writers in kernels/repack.h/.cc):
// the AVX-512 VNNI kernels over them (matmul_kquant_simd.cc).
#pragma once

#include <cstdint>

#include "kernels/matmul.h"
#include "tensor/tensor_view.h"

namespace flotilla {

// y[t, 16g + r] = dot(row 16g + r of w, x_t) for groups g in [g0, g1), r < 16 and every token of a;
// y: [a.n_tokens, w.n_rows()]. w.dtype is Q4_K or Q6_K with w.rows16 set, a packed as Q8_K. Only the
// AVX3_DL target has these kernels (AVX2 has its own, kernels/matmul_groups_avx2.h), so only its matmul
// kernels call this.
void MatMulGroupsKQuant(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1);

}  // namespace flotilla
