// K-quants with 4 to 8 bits: Q4_K, Q5_K, Q6_K and Q8_K (super-blocks of 256; layouts in
// quant_blocks.h). Q4_K/Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins; Q6_K: 16 sub-blocks of 16
// with int8 scales; Q8_K: one float scale, for activations in integer dot products.
#include <cmath>
#include <cstring>

#include "flotilla/check.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_k_fit.h"

namespace flotilla {

using kquant::GetScaleMinK4;

// ---- Q4_K: x = d * sc * q - dmin * mn, q in 0..15.

void DequantizeRowQ4_K_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  const auto* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = FP16ToFP32(b[i].d);
    const float dmin = FP16ToFP32(b[i].dmin);
    const uint8_t* q = b[i].qs;
    for (int p = 0; p < 4; ++p, q += 32, dst += 64) {  // pairs of sub-blocks share 32 bytes
      uint8_t sc0, mn0, sc1, mn1;
      GetScaleMinK4(2 * p, b[i].scales, &sc0, &mn0);
      GetScaleMinK4(2 * p + 1, b[i].scales, &sc1, &mn1);
      const float d0 = d * sc0, m0 = dmin * mn0, d1 = d * sc1, m1 = dmin * mn1;
      for (int l = 0; l < 32; ++l) {
        dst[l] = d0 * static_cast<float>(q[l] & 0x0F) - m0;
        dst[l + 32] = d1 * static_cast<float>(q[l] >> 4) - m1;
      }
    }
  }
}

void QuantizeRowQ4_K_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  auto* b = static_cast<BlockQ4_K*>(dst);
  kquant::ScaleMinBlock sb;
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    kquant::QuantizeScaleMinBlock(src, 32, 15, 63, &sb);
    b[i].d = FP32ToFP16(sb.d);
    b[i].dmin = FP32ToFP16(sb.dmin);
    kquant::PackScalesMinsK(sb.sc, sb.mn, b[i].scales);
    for (int p = 0; p < 4; ++p) {
      for (int l = 0; l < 32; ++l) {
        b[i].qs[32 * p + l] = static_cast<uint8_t>(sb.L[64 * p + l] | (sb.L[64 * p + 32 + l] << 4));
      }
    }
  }
}

// ---- Q5_K: as Q4_K with a fifth bit per value in qh; q in 0..31.

void DequantizeRowQ5_K_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  const auto* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = FP16ToFP32(b[i].d);
    const float dmin = FP16ToFP32(b[i].dmin);
    const uint8_t* q = b[i].qs;
    const uint8_t* qh = b[i].qh;
    for (int p = 0; p < 4; ++p, q += 32, dst += 64) {
      uint8_t sc0, mn0, sc1, mn1;
      GetScaleMinK4(2 * p, b[i].scales, &sc0, &mn0);
      GetScaleMinK4(2 * p + 1, b[i].scales, &sc1, &mn1);
      const float d0 = d * sc0, m0 = dmin * mn0, d1 = d * sc1, m1 = dmin * mn1;
      const int bit0 = 2 * p, bit1 = 2 * p + 1;  // sub-block k's fifth bits: bit k of qh[l]
      for (int l = 0; l < 32; ++l) {
        const int q0 = (q[l] & 0x0F) | (((qh[l] >> bit0) & 1) << 4);
        const int q1 = (q[l] >> 4) | (((qh[l] >> bit1) & 1) << 4);
        dst[l] = d0 * static_cast<float>(q0) - m0;
        dst[l + 32] = d1 * static_cast<float>(q1) - m1;
      }
    }
  }
}

void QuantizeRowQ5_K_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  auto* b = static_cast<BlockQ5_K*>(dst);
  kquant::ScaleMinBlock sb;
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    kquant::QuantizeScaleMinBlock(src, 32, 31, 63, &sb);
    b[i].d = FP32ToFP16(sb.d);
    b[i].dmin = FP32ToFP16(sb.dmin);
    kquant::PackScalesMinsK(sb.sc, sb.mn, b[i].scales);
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int p = 0; p < 4; ++p) {
      for (int l = 0; l < 32; ++l) {
        const int q0 = sb.L[64 * p + l], q1 = sb.L[64 * p + 32 + l];
        b[i].qs[32 * p + l] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
        b[i].qh[l] |= static_cast<uint8_t>(((q0 >> 4) << (2 * p)) | ((q1 >> 4) << (2 * p + 1)));
      }
    }
  }
}

// ---- Q6_K: x = d * scales[e / 16] * (q - 32), q in 0..63 (4 low bits in ql, 2 high bits in qh).

void DequantizeRowQ6_K_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = FP16ToFP32(b[i].d);
    for (int h = 0; h < 2; ++h, dst += 128) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        const int s = l / 16;
        const int q0 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q1 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        dst[l] = d * static_cast<float>(sc[s]) * static_cast<float>(q0);
        dst[l + 32] = d * static_cast<float>(sc[s + 2]) * static_cast<float>(q1);
        dst[l + 64] = d * static_cast<float>(sc[s + 4]) * static_cast<float>(q2);
        dst[l + 96] = d * static_cast<float>(sc[s + 6]) * static_cast<float>(q3);
      }
    }
  }
}

void QuantizeRowQ6_K_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  auto* b = static_cast<BlockQ6_K*>(dst);
  kquant::ScaleBlock sb;
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    kquant::QuantizeScaleBlock(src, 32, 128, &sb);
    b[i].d = FP32ToFP16(sb.d);
    std::memcpy(b[i].scales, sb.sc, sizeof(b[i].scales));
    for (int h = 0; h < 2; ++h) {
      const int8_t* L = sb.L + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int q0 = L[l] + 32, q1 = L[l + 32] + 32, q2 = L[l + 64] + 32, q3 = L[l + 96] + 32;
        b[i].ql[64 * h + l] = static_cast<uint8_t>((q0 & 0x0F) | ((q2 & 0x0F) << 4));
        b[i].ql[64 * h + 32 + l] = static_cast<uint8_t>((q1 & 0x0F) | ((q3 & 0x0F) << 4));
        b[i].qh[32 * h + l] =
            static_cast<uint8_t>((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6));
      }
    }
  }
}

// ---- Q8_K: x = d * q, d a float; bsums hold sums of 16 quants.

void DequantizeRowQ8_K_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    for (int j = 0; j < kQK_K; ++j) dst[j] = b[i].d * static_cast<float>(b[i].qs[j]);
  }
}

void QuantizeRowQ8_K_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float amax = 0;
    for (int j = 0; j < kQK_K; ++j) amax = std::fmax(amax, std::fabs(src[j]));
    const float iscale = amax > 0 ? 127.0f / amax : 0.0f;
    b[i].d = amax > 0 ? amax / 127.0f : 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      b[i].qs[j] = static_cast<int8_t>(kquant::RoundClamp(iscale * src[j], -127, 127));
    }
    for (int s = 0; s < kQK_K / 16; ++s) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += b[i].qs[16 * s + j];
      b[i].bsums[s] = static_cast<int16_t>(sum);
    }
  }
}

}  // namespace flotilla
