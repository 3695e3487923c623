#include "train/gemm.h"

#include <algorithm>
#include <cstring>

namespace flotilla::train {
namespace {

// 16 floats; loads and stores go through memcpy, so no alignment is assumed. Compiled inside a
// function with AVX-512 enabled this is one zmm register; elsewhere the compiler splits it.
typedef float V16 __attribute__((vector_size(64)));

constexpr int64_t kMr = 6;     // rows of c per micro-kernel
constexpr int64_t kNr = 32;    // columns of c per micro-kernel (two V16)
constexpr int64_t kMc = 72;    // rows per cache block
constexpr int64_t kKc = 256;   // depth per cache block

[[gnu::always_inline]] inline V16 Load(const float* p) {
  V16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
[[gnu::always_inline]] inline void Store(float* p, V16 v) { std::memcpy(p, &v, sizeof(v)); }

// c[0..rows, 0..32) (+)= a[0..rows, 0..k) · b[0..k, 0..32).
template <int64_t kRows>
[[gnu::always_inline]] inline void Micro(const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                                         int64_t ldc, int64_t k, bool accumulate) {
  V16 acc[kRows][2];
  for (int64_t r = 0; r < kRows; ++r) {
    if (accumulate) {
      acc[r][0] = Load(c + r * ldc);
      acc[r][1] = Load(c + r * ldc + 16);
    } else {
      acc[r][0] = V16{} ;
      acc[r][1] = V16{};
    }
  }
  for (int64_t p = 0; p < k; ++p) {
    const V16 b0 = Load(b + p * ldb), b1 = Load(b + p * ldb + 16);
#pragma GCC unroll 8
    for (int64_t r = 0; r < kRows; ++r) {
      const float av = a[r * lda + p];
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
  for (int64_t r = 0; r < kRows; ++r) {
    Store(c + r * ldc, acc[r][0]);
    Store(c + r * ldc + 16, acc[r][1]);
  }
}

// Columns [j0, j1) of c for rows [0, rows), scalar: the ragged right edge.
[[gnu::always_inline]] inline void Edge(int64_t rows, int64_t j0, int64_t j1, int64_t k, const float* a, int64_t lda,
                                        const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < rows; ++i) {
    float* ci = c + i * ldc;
    if (!accumulate) std::fill(ci + j0, ci + j1, 0.0f);
    for (int64_t p = 0; p < k; ++p) {
      const float av = a[i * lda + p];
      const float* bp = b + p * ldb;
      for (int64_t j = j0; j < j1; ++j) ci[j] += av * bp[j];
    }
  }
}

// Rows [i_begin, i_end) of c.
[[gnu::always_inline]] inline void GemmRowsBody(int64_t i_begin, int64_t i_end, int64_t n, int64_t k,
                                                const float* a, int64_t lda, const float* b, int64_t ldb,
                                                float* c, int64_t ldc, bool accumulate) {
  const int64_t n_full = n / kNr * kNr;
  for (int64_t i0 = i_begin; i0 < i_end; i0 += kMc) {
    const int64_t i1 = std::min(i_end, i0 + kMc);
    for (int64_t j0 = 0; j0 < n_full; j0 += kNr) {
      for (int64_t p0 = 0; p0 < k; p0 += kKc) {
        const int64_t kk = std::min(kKc, k - p0);
        const bool acc = accumulate || p0 > 0;
        const float* bp = b + p0 * ldb + j0;
        int64_t i = i0;
        for (; i + kMr <= i1; i += kMr) Micro<kMr>(a + i * lda + p0, lda, bp, ldb, c + i * ldc + j0, ldc, kk, acc);
        switch (i1 - i) {
          case 5: Micro<5>(a + i * lda + p0, lda, bp, ldb, c + i * ldc + j0, ldc, kk, acc); break;
          case 4: Micro<4>(a + i * lda + p0, lda, bp, ldb, c + i * ldc + j0, ldc, kk, acc); break;
          case 3: Micro<3>(a + i * lda + p0, lda, bp, ldb, c + i * ldc + j0, ldc, kk, acc); break;
          case 2: Micro<2>(a + i * lda + p0, lda, bp, ldb, c + i * ldc + j0, ldc, kk, acc); break;
          case 1: Micro<1>(a + i * lda + p0, lda, bp, ldb, c + i * ldc + j0, ldc, kk, acc); break;
          default: break;
        }
      }
    }
    if (n_full < n) Edge(i1 - i0, n_full, n, k, a + i0 * lda, lda, b, ldb, c + i0 * ldc, ldc, accumulate);
  }
}

__attribute__((target("avx512f,avx512vl,avx2,fma"))) void GemmRowsAvx512(
    int64_t i_begin, int64_t i_end, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
    float* c, int64_t ldc, bool accumulate) {
  GemmRowsBody(i_begin, i_end, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

void GemmRowsGeneric(int64_t i_begin, int64_t i_end, int64_t n, int64_t k, const float* a, int64_t lda,
                     const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  GemmRowsBody(i_begin, i_end, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

using GemmRowsFn = void (*)(int64_t, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                            float*, int64_t, bool);

GemmRowsFn PickGemm() {
  static const GemmRowsFn fn = __builtin_cpu_supports("avx512f") ? GemmRowsAvx512 : GemmRowsGeneric;
  return fn;
}

}  // namespace

const char* GemmTargetName() { return PickGemm() == GemmRowsAvx512 ? "avx512" : "generic"; }

void Gemm(ThreadPool& pool, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  const GemmRowsFn fn = PickGemm();
  // Split rows in blocks of kMr so that a thread's micro-kernels are full.
  const int64_t blocks = (m + kMr - 1) / kMr;
  pool.ParallelFor(blocks, [&](int64_t begin, int64_t end) {
    fn(begin * kMr, std::min(m, end * kMr), n, k, a, lda, b, ldb, c, ldc, accumulate);
  });
}

namespace {
// Rows [row_begin, row_end) of `in` into columns of `out`, in 32 x 32 tiles.
void TransposeRows(const float* in, int64_t rows, int64_t cols, float* out, int64_t row_begin, int64_t row_end) {
  constexpr int64_t kB = 32;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kB) {
    for (int64_t c0 = 0; c0 < cols; c0 += kB) {
      const int64_t r1 = std::min(row_end, r0 + kB), c1 = std::min(cols, c0 + kB);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) out[c * rows + r] = in[r * cols + c];
      }
    }
  }
}
}  // namespace

void Transpose(const float* in, int64_t rows, int64_t cols, float* out) {
  TransposeRows(in, rows, cols, out, 0, rows);
}

void Transpose(ThreadPool& pool, const float* in, int64_t rows, int64_t cols, float* out) {
  pool.ParallelFor((rows + 31) / 32, [&](int64_t begin, int64_t end) {
    TransposeRows(in, rows, cols, out, begin * 32, std::min(rows, end * 32));
  });
}

void LinearForward(ThreadPool& pool, const float* x, const float* w, int64_t n, int64_t in, int64_t out, float* y,
                   std::vector<float>& scratch) {
  if (static_cast<int64_t>(scratch.size()) < in * out) scratch.resize(static_cast<size_t>(in * out));
  Transpose(pool, w, out, in, scratch.data());  // w^T: [in, out]
  Gemm(pool, n, out, in, x, in, scratch.data(), out, y, out, /*accumulate=*/false);
}

void LinearBackwardX(ThreadPool& pool, const float* dy, const float* w, int64_t n, int64_t in, int64_t out,
                     float* dx, bool accumulate) {
  Gemm(pool, n, in, out, dy, out, w, in, dx, in, accumulate);
}

void LinearBackwardW(ThreadPool& pool, const float* dy, const float* x, int64_t n, int64_t in, int64_t out,
                     float* dw, std::vector<float>& scratch) {
  if (static_cast<int64_t>(scratch.size()) < n * out) scratch.resize(static_cast<size_t>(n * out));
  Transpose(pool, dy, n, out, scratch.data());  // dy^T: [out, n]
  Gemm(pool, out, in, n, scratch.data(), n, x, in, dw, in, /*accumulate=*/true);
}

}  // namespace flotilla::train
