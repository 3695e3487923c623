// Scalar reference (`_ref`) row conversions between float and every stored dtype.
//
// Contract for all functions: `n` is the number of elements and must be a multiple of the type's block
// size (CHECKed: callers validate input-driven sizes first, see tensor/traits.h). `src`/`dst` for the
// quantized side point at n / block_size consecutive blocks (tensor/quant_blocks.h), with no alignment
// requirement beyond the block struct's (2 bytes; 4 for Q8_K). These are the oracle for SIMD kernels:
// keep them simple and exact.
#pragma once

#include <cstdint>

namespace flotilla {

// ---- Plain types (quant_float.cc).
void DequantizeRowF32_ref(const void* src, float* dst, int64_t n);
void DequantizeRowF16_ref(const void* src, float* dst, int64_t n);
void DequantizeRowBF16_ref(const void* src, float* dst, int64_t n);
void QuantizeRowF32_ref(const float* src, void* dst, int64_t n);
void QuantizeRowF16_ref(const float* src, void* dst, int64_t n);   // round to nearest even
void QuantizeRowBF16_ref(const float* src, void* dst, int64_t n);  // round to nearest even

// ---- Legacy blocks of 32 (quant_legacy.cc). The quantizers reproduce llama.cpp's reference
// quantizers bit for bit (no importance weights), so re-quantizing an F32 model gives the same bytes.
void DequantizeRowQ4_0_ref(const void* src, float* dst, int64_t n);
void DequantizeRowQ4_1_ref(const void* src, float* dst, int64_t n);
void DequantizeRowQ5_0_ref(const void* src, float* dst, int64_t n);
void DequantizeRowQ5_1_ref(const void* src, float* dst, int64_t n);
void DequantizeRowQ8_0_ref(const void* src, float* dst, int64_t n);
void DequantizeRowQ8_1_ref(const void* src, float* dst, int64_t n);
void QuantizeRowQ4_0_ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ4_1_ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ5_0_ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ5_1_ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ8_0_ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ8_1_ref(const float* src, void* dst, int64_t n);

// ---- K-quants, super-blocks of 256 (quant_k.cc: Q4_K, Q5_K, Q6_K, Q8_K; quant_k_low.cc: Q2_K, Q3_K).
// The quantizers search sub-block scales (and mins) that minimise a weighted squared error
// (quant_k_fit.h).
void DequantizeRowQ2_K_ref(const void* src, float* dst, int64_t n);
void DequantizeRowQ3_K_ref(const void* src, float* dst, int64_t n);
void DequantizeRowQ4_K_ref(const void* src, float* dst, int64_t n);
void DequantizeRowQ5_K_ref(const void* src, float* dst, int64_t n);
void DequantizeRowQ6_K_ref(const void* src, float* dst, int64_t n);
void DequantizeRowQ8_K_ref(const void* src, float* dst, int64_t n);
void QuantizeRowQ2_K_ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ3_K_ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ4_K_ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ5_K_ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ6_K_ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ8_K_ref(const float* src, void* dst, int64_t n);

}  // namespace flotilla
