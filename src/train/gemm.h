// F32 matrix products of training (forward and both backward products), multi-threaded with the
// ThreadPool. All matrices are dense row-major float arrays. Deterministic: each output element is
// summed by one thread in an order fixed by the sizes alone, so a run repeats bit for bit.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"

namespace flotilla::train {

// c[i, j] (+)= sum_p a[i, p] * b[p, j].  a: [m, k] (row stride lda), b: [k, n] (stride ldb),
// c: [m, n] (stride ldc). Rows of c are split across the pool. accumulate=false overwrites c.
void Gemm(ThreadPool& pool, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float* c, int64_t ldc, bool accumulate);

// out: [cols, rows] = in^T, in: [rows, cols].
void Transpose(const float* in, int64_t rows, int64_t cols, float* out);
// The same, rows split across the pool.
void Transpose(ThreadPool& pool, const float* in, int64_t rows, int64_t cols, float* out);

// A linear layer's three products. x: [n, in], w: [out, in] (a GGUF matrix), y: [n, out].
// `scratch` grows to hold a transposed operand.
void LinearForward(ThreadPool& pool, const float* x, const float* w, int64_t n, int64_t in, int64_t out,
                   float* y, std::vector<float>& scratch);
// dx (+)= dy · w.  dy: [n, out], dx: [n, in].
void LinearBackwardX(ThreadPool& pool, const float* dy, const float* w, int64_t n, int64_t in, int64_t out,
                     float* dx, bool accumulate);
// dw += dy^T · x.  dw: [out, in].
void LinearBackwardW(ThreadPool& pool, const float* dy, const float* x, int64_t n, int64_t in, int64_t out,
                     float* dw, std::vector<float>& scratch);

// Which kernel Gemm uses on this CPU ("avx512" or "generic").
const char* GemmTargetName();

}  // namespace flotilla::train
