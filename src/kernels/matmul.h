// Matrix products with weights stored in any readable dtype.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace flotilla {

// The type activations are rounded to before a dot product with weights of type `w`, as llama.cpp
// does (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, F16 for F16, BF16 for BF16,
// F32 for F32), so that our numerics match the reference.
DType VecDotType(DType w);

// y[t, r] = sum_k w[r, k] * x[t, k].
// w: [n_out, n_in] (ggml ne = {n_in, n_out}), x: [n_tokens, n_in], y: [n_tokens, n_out].
// Rows are split across the pool's threads.
void MatMul(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y);

// Copies row `i` of w into dst[0..row_len) as floats.
void GetRow(const TensorView& w, int64_t i, float* dst);

}  // namespace flotilla
