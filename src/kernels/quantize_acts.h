// Activation quantizers for integer dot products (dispatched SIMD), bit-exact with the scalar `_ref`
// quantizers of tensor/quant_legacy.cc (Q8_0) and tensor/quant_k.cc (Q8_K) on every input, NaN and
// infinities included: same scale computation, same round-half-away-from-zero, same clamping.
#pragma once

#include <cstdint>

#include "tensor/quant_blocks.h"

namespace flotilla {

// Quantizes x[0..n) (n % 32 == 0) to Q8_0 in split form: for each block b of 32 values, q[32b..32b+32)
// are QuantizeRowQ8_0_ref's quants, d[b] == FP16ToFP32(its stored half scale) and xsum[b] is the sum
// of the block's 32 quants. xsum may be null (not computed). Rows of several tokens may be passed as
// one call when each row's length is a multiple of 32. q: [n], d: [n / 32], xsum: [n / 32].
void QuantizeActsQ8_0(const float* x, int64_t n, int8_t* q, float* d, int32_t* xsum);

// Quantizes x[0..n) (n % 256 == 0) to n / 256 Q8_K blocks exactly as QuantizeRowQ8_K_ref writes them
// (d, qs and bsums).
void QuantizeActsQ8_K(const float* x, int64_t n, BlockQ8_K* out);

// out[i] = x[i] rounded to F16 / BF16 and widened back, bit for bit FP16ToFP32(FP32ToFP16(x[i])) /
// BF16ToFP32(FP32ToBF16(x[i])) (tensor/fp16.h): activations for F16 and BF16 weights. out may equal x.
void RoundActsF16(const float* x, int64_t n, float* out);
void RoundActsBF16(const float* x, int64_t n, float* out);

// The instruction set the quantizers run with on this CPU ("AVX3_DL", "AVX2", ...).
const char* QuantizeActsTargetName();

}  // namespace flotilla
