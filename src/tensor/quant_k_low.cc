// K-quants with 2 and 3 bits: Q2_K and Q3_K (super-blocks of 256, 16 sub-blocks of 16; layouts in
// quant_blocks.h). Both store 2-bit fields the same way: for half h (128 elements) and shift
// s in {0, 2, 4, 6}, bits s..s+1 of qs[32h + l] (l in 0..31) hold element 128h + 16s + l.
#include <cstring>

#include "flotilla/check.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_k_fit.h"

namespace flotilla {
namespace {

// Element index of bits `shift` of qs[32h + l].
inline int TwoBitIndex(int h, int shift, int l) { return 128 * h + 16 * shift + l; }

// Packs 256 values in 0..3 into 64 bytes (the layout above).
void PackTwoBits(const uint8_t* L, uint8_t qs[64]) {
  std::memset(qs, 0, 64);
  for (int h = 0; h < 2; ++h) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int l = 0; l < 32; ++l) {
        qs[32 * h + l] |= static_cast<uint8_t>((L[TwoBitIndex(h, shift, l)] & 3) << shift);
      }
    }
  }
}

}  // namespace

// ---- Q2_K: x = d * (scales[s] & 15) * q - dmin * (scales[s] >> 4), q in 0..3, s = e / 16.

void DequantizeRowQ2_K_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  const auto* b = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = FP16ToFP32(b[i].d);
    const float dmin = FP16ToFP32(b[i].dmin);
    for (int h = 0; h < 2; ++h) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int l = 0; l < 32; ++l) {
          const int e = TwoBitIndex(h, shift, l);
          const uint8_t sc = b[i].scales[e / 16];
          const int q = (b[i].qs[32 * h + l] >> shift) & 3;
          dst[e] = d * static_cast<float>(sc & 15) * static_cast<float>(q) -
                   dmin * static_cast<float>(sc >> 4);
        }
      }
    }
  }
}

void QuantizeRowQ2_K_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  auto* b = static_cast<BlockQ2_K*>(dst);
  kquant::ScaleMinBlock sb;
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    kquant::QuantizeScaleMinBlock(src, 16, 3, 15, &sb);
    b[i].d = FP32ToFP16(sb.d);
    b[i].dmin = FP32ToFP16(sb.dmin);
    for (int s = 0; s < 16; ++s) b[i].scales[s] = static_cast<uint8_t>(sb.sc[s] | (sb.mn[s] << 4));
    PackTwoBits(sb.L, b[i].qs);
  }
}

// ---- Q3_K: x = d * (sc - 32) * (q - 4), q = low 2 bits | hmask bit << 2, sc unpacked from 12 bytes.

void DequantizeRowQ3_K_ref(const void* src, float* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  const auto* b = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = FP16ToFP32(b[i].d);
    uint8_t sc[16];
    kquant::UnpackScalesQ3K(b[i].scales, sc);
    for (int h = 0; h < 2; ++h) {
      for (int shift = 0; shift < 8; shift += 2) {
        const int hbit = 4 * h + shift / 2;  // element 32k + l: bit k of hmask[l]
        for (int l = 0; l < 32; ++l) {
          const int e = TwoBitIndex(h, shift, l);
          const int q = ((b[i].qs[32 * h + l] >> shift) & 3) - (((b[i].hmask[l] >> hbit) & 1) ? 0 : 4);
          dst[e] = d * static_cast<float>(sc[e / 16] - 32) * static_cast<float>(q);
        }
      }
    }
  }
}

void QuantizeRowQ3_K_ref(const float* src, void* dst, int64_t n) {
  CHECK(n % kQK_K == 0);
  auto* b = static_cast<BlockQ3_K*>(dst);
  kquant::ScaleBlock sb;
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    kquant::QuantizeScaleBlock(src, 4, 32, &sb);
    b[i].d = FP32ToFP16(sb.d);
    uint8_t sc[16];
    for (int s = 0; s < 16; ++s) sc[s] = static_cast<uint8_t>(sb.sc[s] + 32);
    kquant::PackScalesQ3K(sc, b[i].scales);
    uint8_t L[kQK_K];
    std::memset(b[i].hmask, 0, sizeof(b[i].hmask));
    for (int e = 0; e < kQK_K; ++e) {
      L[e] = static_cast<uint8_t>(sb.L[e] + 4);  // 0..7
      if (L[e] & 4) b[i].hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
    }
    PackTwoBits(L, b[i].qs);
  }
}

}  // namespace flotilla
