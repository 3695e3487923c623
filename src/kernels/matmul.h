// Matrix products with weights stored in any readable dtype.
//
// Two implementations share one contract:
// - MatMul_ref (matmul_ref.cc): the scalar oracle. Rounds activations through VecDotType, dequantizes
//   each weight row and takes float dots.
// - MatMul / MatMulPacked (matmul.cc, matmul_simd.cc): Highway kernels with runtime dispatch for F32,
//   F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K weights (other types fall back to the reference). Quantized
//   weights take integer dot products against 8-bit activations, exactly as llama.cpp does: the
//   activations are quantized with the same `_ref` quantizers, so per-block integer sums are identical
//   to the reference's and only the float accumulation order differs.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "tensor/dtype.h"
#include "tensor/quant_blocks.h"
#include "tensor/tensor_view.h"

namespace flotilla {

// The type activations are rounded to before a dot product with weights of type `w`, as llama.cpp
// does (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, F16 for F16, BF16 for BF16,
// F32 for F32), so that our numerics match the reference.
DType VecDotType(DType w);

// True when MatMul has a SIMD kernel for weights of this type.
bool HasSimdMatMul(DType w);

// Activations [n_tokens, n_in] converted once for weights of one dtype family, reusable across
// several weight matrices of that family (Q, K and V; gate and up). Buffers only grow, so a
// PackedActs kept in a context allocates nothing after its first use.
struct PackedActs {
  DType dot_type = DType::kF32;  // VecDotType of the weights
  int64_t n_tokens = 0, n_in = 0;
  // F32 / F16 / BF16: x rounded to dot_type, as floats: [n_tokens, n_in].
  std::vector<float> f;
  // Q8_0: quants [n_tokens, n_in]; block scales d per block of 32: [n_tokens, n_in / 32].
  std::vector<int8_t> q;
  std::vector<float> d;
  // Q8_0: sum of the 32 quants of each block: [n_tokens, n_in / 32] (the offset of unsigned weights).
  std::vector<int32_t> xsum;
  // Q8_K: [n_tokens, n_in / 256] blocks as QuantizeRowQ8_K_ref writes them.
  std::vector<BlockQ8_K> k;
};

// Converts x ([n_tokens, n_in]) for weights of dtype `w` (which must satisfy HasSimdMatMul); tokens
// are split across `pool` when given.
void PackActivations(DType w, const float* x, int64_t n_tokens, int64_t n_in, PackedActs* out,
                     ThreadPool* pool = nullptr);

// gate = silu(gate) * up (as SwiGluSimd), packed as PackActivations packs it, in one parallel region
// split by columns as well as tokens, so that a single token's row is shared by the threads (the
// feed-forward's input to W_down while decoding). gate, up: [n_tokens, n_in].
void PackSwiGlu(DType w, float* gate, const float* up, int64_t n_tokens, int64_t n_in, PackedActs* out,
                ThreadPool& pool);

// One product of a MatMulPacked call: y[t, r] = sum_k w[r, k] * x[t, k], y: [n_tokens, w.n_rows()].
struct MatMulOut {
  const TensorView* w;
  float* y;
};

// Runs every product in `outs` (all weights of acts.dot_type's family, row length acts.n_in) in one
// parallel region, rows split across the pool's threads.
void MatMulPacked(ThreadPool& pool, std::span<const MatMulOut> outs, const PackedActs& acts);

// y[t, r] = sum_k w[r, k] * x[t, k].
// w: [n_out, n_in] (ggml ne = {n_in, n_out}), x: [n_tokens, n_in], y: [n_tokens, n_out].
// Rows are split across the pool's threads. SIMD where HasSimdMatMul(w.dtype), else MatMul_ref.
void MatMul(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y);

// The scalar reference with the same contract.
void MatMul_ref(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y);

// Rows [row_begin, row_end) of one product on the calling thread with the best kernel for this CPU
// (the unit the parallel versions split). y: [acts.n_tokens, w.n_rows()].
void MatMulRows(const TensorView& w, const PackedActs& acts, float* y, int64_t row_begin, int64_t row_end);

// The instruction set MatMul's kernels run with on this CPU ("AVX3_DL", "AVX2", ...).
const char* MatMulSimdTargetName();

// Copies row `i` of w into dst[0..row_len) as floats.
void GetRow(const TensorView& w, int64_t i, float* dst);

}  // namespace flotilla
