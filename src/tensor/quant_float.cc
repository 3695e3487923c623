// Plain floating-point rows: F32 (a copy), F16 and BF16 (2-byte little-endian bit patterns).
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant.h"

namespace flotilla {

void DequantizeRowF32_ref(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void QuantizeRowF32_ref(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void DequantizeRowF16_ref(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = FP16ToFP32(h[i]);
}

void QuantizeRowF16_ref(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = FP32ToFP16(src[i]);
}

void DequantizeRowBF16_ref(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = BF16ToFP32(b[i]);
}

void QuantizeRowBF16_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) b[i] = FP32ToBF16(src[i]);
}

}  // namespace flotilla
