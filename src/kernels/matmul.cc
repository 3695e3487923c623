// MatMul front end: activation packing (through quantizers bit-exact with the `_ref` ones, so the
// integer sums equal the reference's) and the parallel split. The per-target kernels are in matmul_simd.cc.
#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>

#include "flotilla/check.h"
#include "kernels/ops.h"
#include "kernels/quantize_acts.h"
#include "kernels/repack.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"
#include "tensor/traits.h"

namespace flotilla {

// Defined in matmul_simd.cc: the dispatched row kernel.
void MatMulRowsSimd(const TensorView& w, const PackedActs& acts, float* y, int64_t row_begin,
                    int64_t row_end);

DType VecDotType(DType w) {
  switch (w) {
    case DType::kQ4_0:
    case DType::kQ5_0:
    case DType::kQ8_0: return DType::kQ8_0;
    case DType::kQ4_1:
    case DType::kQ5_1: return DType::kQ8_1;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K: return DType::kQ8_K;
    case DType::kF16: return DType::kF16;
    case DType::kBF16: return DType::kBF16;
    default: return DType::kF32;
  }
}

bool HasSimdMatMul(DType w) {
  switch (w) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K:
    case DType::kQ6_K: return true;
    default: return false;
  }
}

void GetRow(const TensorView& w, int64_t i, float* dst) {
  const DTypeTraits& traits = GetTraits(w.dtype);
  CHECK(traits.dequantize_row != nullptr);
  traits.dequantize_row(w.row(i), dst, w.row_len());
}

namespace {

// Sizes the buffers of `out` for n_tokens x n_in activations of dot type out->dot_type.
void GrowPacked(int64_t n_tokens, int64_t n_in, PackedActs* out) {
  const size_t n = static_cast<size_t>(n_tokens * n_in);
  switch (out->dot_type) {
    case DType::kQ8_0:
      CHECK(n_in % kQK8_0 == 0);
      if (out->q.size() < n) out->q.resize(n);
      if (out->d.size() < n / kQK8_0) out->d.resize(n / kQK8_0);
      if (out->xsum.size() < n / kQK8_0) out->xsum.resize(n / kQK8_0);
      return;
    case DType::kQ8_K:
      CHECK(n_in % kQK_K == 0);
      if (out->k.size() < n / kQK_K) out->k.resize(n / kQK_K);
      return;
    default:
      if (out->f.size() < n) out->f.resize(n);
  }
}

// Packs elements [first, last) of x ([n_tokens, n_in] read as one array) into `out` (already sized);
// first and last are multiples of out->dot_type's block size.
void PackRange(const float* x, int64_t first, int64_t last, PackedActs* out) {
  const size_t begin = static_cast<size_t>(first), end = static_cast<size_t>(last);
  switch (out->dot_type) {
    case DType::kF32:
      std::memcpy(out->f.data() + begin, x + begin, (end - begin) * sizeof(float));
      return;
    case DType::kF16:
      RoundActsF16(x + begin, static_cast<int64_t>(end - begin), out->f.data() + begin);
      return;
    case DType::kBF16:
      RoundActsBF16(x + begin, static_cast<int64_t>(end - begin), out->f.data() + begin);
      return;
    case DType::kQ8_0:  // the range is whole blocks, so one call covers them all
      QuantizeActsQ8_0(x + begin, static_cast<int64_t>(end - begin), &out->q[begin], &out->d[begin / kQK8_0],
                       &out->xsum[begin / kQK8_0]);
      return;
    case DType::kQ8_K:
      QuantizeActsQ8_K(x + begin, static_cast<int64_t>(end - begin), &out->k[begin / kQK_K]);
      return;
    default: CHECK(false);
  }
}

// Sets out's dot type and shape for n_tokens x n_in activations of weights of dtype w, and sizes it.
void StartPacking(DType w, int64_t n_tokens, int64_t n_in, PackedActs* out) {
  CHECK(HasSimdMatMul(w));
  out->dot_type = VecDotType(w);
  out->n_tokens = n_tokens;
  out->n_in = n_in;
  GrowPacked(n_tokens, n_in, out);
}

}  // namespace

void PackActivations(DType w, const float* x, int64_t n_tokens, int64_t n_in, PackedActs* out,
                     ThreadPool* pool) {
  StartPacking(w, n_tokens, n_in, out);
  if (pool == nullptr || n_tokens < 2) {
    PackRange(x, 0, n_tokens * n_in, out);
    return;
  }
  pool->ParallelFor(n_tokens, [&](int64_t b, int64_t e) { PackRange(x, b * n_in, e * n_in, out); });
}

void PackSwiGlu(DType w, float* gate, const float* up, int64_t n_tokens, int64_t n_in, PackedActs* out,
                ThreadPool& pool) {
  StartPacking(w, n_tokens, n_in, out);
  // Units of 256 elements: whole Q8_0 and Q8_K blocks (a row is whole blocks, so the last, shorter
  // unit is too), small enough that one token's row splits across the threads.
  constexpr int64_t kUnit = 256;
  const int64_t total = n_tokens * n_in;
  pool.ParallelFor((total + kUnit - 1) / kUnit, [&](int64_t b, int64_t e) {
    const int64_t first = b * kUnit, last = std::min(e * kUnit, total);
    SwiGluSimd(gate + first, up + first, last - first, gate + first);
    PackRange(gate, first, last, out);
  });
}

void MatMulRows(const TensorView& w, const PackedActs& acts, float* y, int64_t row_begin, int64_t row_end) {
  CHECK(VecDotType(w.dtype) == acts.dot_type && w.row_len() == acts.n_in);
  MatMulRowsSimd(w, acts, y, row_begin, row_end);
}

void MatMulPacked(ThreadPool& pool, std::span<const MatMulOut> outs, const PackedActs& acts) {
  // Rows of all products form one index space of 16-row units (the groups of an interleaved copy,
  // which a split must not cut), cut into chunks so that threads get equal work even when the
  // products differ in size (Q is larger than K and V). The space is one slice per thread, each
  // holding the same share of every product's rows, one product after another: a thread that runs
  // its own slice computes the same rows of gate and up (the SwiGLU that combines them then reads its
  // own cache), and each product's share is one contiguous stream.
  const auto units = [](const MatMulOut& o) { return (o.w->n_rows() + kInterleaveRows - 1) / kInterleaveRows; };
  int64_t total = 0;
  for (const MatMulOut& o : outs) {
    CHECK(VecDotType(o.w->dtype) == acts.dot_type && o.w->row_len() == acts.n_in);
    total += units(o);
  }
  const int64_t slices = pool.n_threads();
  pool.ParallelFor(total, [&](int64_t begin, int64_t end) {
    int64_t first = 0;  // index of the current (slice, product) segment's first unit
    for (int64_t s = 0; s < slices && first < end; ++s) {
      for (const MatMulOut& o : outs) {
        const int64_t u0 = units(o) * s / slices, n = units(o) * (s + 1) / slices - u0;
        const int64_t b = u0 + std::max(begin - first, int64_t{0}), e = u0 + std::min(end - first, n);
        if (b < e) MatMulRowsSimd(*o.w, acts, o.y, b * kInterleaveRows, std::min(e * kInterleaveRows, o.w->n_rows()));
        first += n;
      }
    }
  });
}

void MatMul(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y) {
  if (!HasSimdMatMul(w.dtype)) {
    MatMul_ref(pool, w, x, n_tokens, y);
    return;
  }
  PackedActs acts;
  PackActivations(w.dtype, x, n_tokens, w.row_len(), &acts, &pool);
  const MatMulOut out{&w, y};
  MatMulPacked(pool, std::span<const MatMulOut>(&out, 1), acts);
}

}  // namespace flotilla
