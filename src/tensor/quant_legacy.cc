// Legacy ggml quant formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 (blocks of 32; layouts in
// quant_blocks.h). The quantizers follow llama.cpp's reference rounding exactly (scale computed in
// float, stored as half; quants from the unrounded inverse scale), so that our files and theirs agree
// byte for byte.
#include <cmath>
#include <cstring>

#include "flotilla/check.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"

namespace flotilla {
namespace {

// floor(v) clamped to [0, hi]; v is known to be >= 0 for finite input (NaN maps to 0).
inline int TruncClamp(float v, int hi) {
  if (!(v > 0.0f)) return 0;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

// round-half-away-from-zero of v, clamped to [-127, 127] (NaN maps to 0).
inline int8_t RoundToInt8(float v) {
  if (!(std::fabs(v) <= 127.0f)) return std::isnan(v) ? 0 : (v > 0 ? 127 : -127);
  return static_cast<int8_t>(std::roundf(v));
}

// The signed value of largest magnitude (the first one on ties), as the symmetric formats scale by it.
inline float SignedAbsMax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

inline void MinMax(const float* x, int n, float* min, float* max) {
  *min = x[0];
  *max = x[0];
  for (int j = 1; j < n; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

inline uint32_t LoadQh(const uint8_t qh[4]) {
  uint32_t v;
  std::memcpy(&v, qh, 4);  // little-endian host assumed (as ggml does)
  return v;
}

}  // namespace

// ---- Q4_0: x = d * (q - 8).

void DequantizeRowQ4_0_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK4_0 == 0);
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK4_0; ++i, dst += kQK4_0) {
    const float d = FP16ToFP32(b[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      dst[j] = d * static_cast<float>((b[i].qs[j] & 0x0F) - 8);
      dst[j + kQK4_0 / 2] = d * static_cast<float>((b[i].qs[j] >> 4) - 8);
    }
  }
}

void QuantizeRowQ4_0_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK4_0 == 0);
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i, src += kQK4_0) {
    // The extreme value maps to q = 0 (-8), its opposite reaches +8 and is clamped to 15.
    const float d = SignedAbsMax(src, kQK4_0) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = FP32ToFP16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = TruncClamp(src[j] * id + 8.5f, 15);
      const int q1 = TruncClamp(src[j + kQK4_0 / 2] * id + 8.5f, 15);
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// ---- Q4_1: x = d * q + m.

void DequantizeRowQ4_1_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK4_1 == 0);
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK4_1; ++i, dst += kQK4_1) {
    const float d = FP16ToFP32(b[i].d);
    const float m = FP16ToFP32(b[i].m);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      dst[j] = d * static_cast<float>(b[i].qs[j] & 0x0F) + m;
      dst[j + kQK4_1 / 2] = d * static_cast<float>(b[i].qs[j] >> 4) + m;
    }
  }
}

void QuantizeRowQ4_1_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK4_1 == 0);
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQK4_1; ++i, src += kQK4_1) {
    float min, max;
    MinMax(src, kQK4_1, &min, &max);
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = FP32ToFP16(d);
    b[i].m = FP32ToFP16(min);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      const int q0 = TruncClamp((src[j] - min) * id + 0.5f, 15);
      const int q1 = TruncClamp((src[j + kQK4_1 / 2] - min) * id + 0.5f, 15);
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// ---- Q5_0: x = d * (q - 16), bit 4 of q[j] in bit j of qh.

void DequantizeRowQ5_0_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK5_0 == 0);
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK5_0; ++i, dst += kQK5_0) {
    const float d = FP16ToFP32(b[i].d);
    const uint32_t qh = LoadQh(b[i].qh);
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int h0 = ((qh >> j) & 1) << 4;
      const int h1 = ((qh >> (j + 16)) & 1) << 4;
      dst[j] = d * static_cast<float>(((b[i].qs[j] & 0x0F) | h0) - 16);
      dst[j + kQK5_0 / 2] = d * static_cast<float>(((b[i].qs[j] >> 4) | h1) - 16);
    }
  }
}

void QuantizeRowQ5_0_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK5_0 == 0);
  auto* b = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK5_0; ++i, src += kQK5_0) {
    const float d = SignedAbsMax(src, kQK5_0) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = FP32ToFP16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int q0 = TruncClamp(src[j] * id + 16.5f, 31);
      const int q1 = TruncClamp(src[j + kQK5_0 / 2] * id + 16.5f, 31);
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

// ---- Q5_1: x = d * q + m.

void DequantizeRowQ5_1_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK5_1 == 0);
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK5_1; ++i, dst += kQK5_1) {
    const float d = FP16ToFP32(b[i].d);
    const float m = FP16ToFP32(b[i].m);
    const uint32_t qh = LoadQh(b[i].qh);
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int h0 = ((qh >> j) & 1) << 4;
      const int h1 = ((qh >> (j + 16)) & 1) << 4;
      dst[j] = d * static_cast<float>((b[i].qs[j] & 0x0F) | h0) + m;
      dst[j + kQK5_1 / 2] = d * static_cast<float>((b[i].qs[j] >> 4) | h1) + m;
    }
  }
}

void QuantizeRowQ5_1_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK5_1 == 0);
  auto* b = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQK5_1; ++i, src += kQK5_1) {
    float min, max;
    MinMax(src, kQK5_1, &min, &max);
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = FP32ToFP16(d);
    b[i].m = FP32ToFP16(min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int q0 = TruncClamp((src[j] - min) * id + 0.5f, 31);
      const int q1 = TruncClamp((src[j + kQK5_1 / 2] - min) * id + 0.5f, 31);
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

// ---- Q8_0: x = d * q, d = amax / 127.

void DequantizeRowQ8_0_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK8_0 == 0);
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK8_0; ++i, dst += kQK8_0) {
    const float d = FP16ToFP32(b[i].d);
    for (int j = 0; j < kQK8_0; ++j) dst[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

void QuantizeRowQ8_0_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK8_0 == 0);
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i, src += kQK8_0) {
    const float d = std::fabs(SignedAbsMax(src, kQK8_0)) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = FP32ToFP16(d);
    for (int j = 0; j < kQK8_0; ++j) b[i].qs[j] = RoundToInt8(src[j] * id);
  }
}

// ---- Q8_1: as Q8_0 plus s = d * sum(q).

void DequantizeRowQ8_1_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK8_1 == 0);
  const auto* b = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0; i < n / kQK8_1; ++i, dst += kQK8_1) {
    const float d = FP16ToFP32(b[i].d);
    for (int j = 0; j < kQK8_1; ++j) dst[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

void QuantizeRowQ8_1_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK8_1 == 0);
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK8_1; ++i, src += kQK8_1) {
    const float d = std::fabs(SignedAbsMax(src, kQK8_1)) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK8_1; ++j) {
      b[i].qs[j] = RoundToInt8(src[j] * id);
      sum += b[i].qs[j];
    }
    b[i].d = FP32ToFP16(d);
    b[i].s = FP32ToFP16(static_cast<float>(sum) * d);
  }
}

}  // namespace flotilla
