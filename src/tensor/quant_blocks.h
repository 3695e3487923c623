// Quantized block layouts, byte-compatible with ggml's ggml-common.h (the GGUF on-disk format).
// All multi-byte fields are little-endian; `uint16_t` scale fields hold IEEE half bits (see fp16.h).
// Each struct's size is checked against the dtype table in tensor/dtype.cc.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace flotilla {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK8_1 = 32;
inline constexpr int kQK_K = 256;  // super-block size of the K-quants
inline constexpr int kKScaleBytes = 12;  // 8 scales + 8 mins, 6 bits each (Q4_K, Q5_K)

// ---- Legacy formats: blocks of 32, element j in 0..15 in the low nibble of qs[j], element j+16 in the
// high nibble.

// x[j] = d * (q[j] - 8), q in 0..15.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};

// x[j] = d * q[j] + m, q in 0..15.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK4_1 / 2];
};

// x[j] = d * (q[j] - 16), q in 0..31; bit 4 of q[j] is bit j of qh (a little-endian uint32).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK5_0 / 2];
};

// x[j] = d * q[j] + m, q in 0..31; high bits as in Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};

// x[j] = d * qs[j].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};

// x[j] = d * qs[j]; s = d * sum(qs) (used by integer dot products with Q4_1/Q5_1).
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK8_1];
};

// ---- K-quants: super-blocks of 256.

// 16 sub-blocks of 16. scales[i]: low nibble = scale, high nibble = min of sub-block i.
// qs: 2-bit quants; for half h (128 elements) and shift s in {0,2,4,6}, byte qs[32h + l] (l in 0..31)
// holds element 128h + 32(s/2) + l at bits s..s+1. x = d*scale*q - dmin*min.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};

// 16 sub-blocks of 16, symmetric. q = low 2 bits (qs, placed as in Q2_K) minus 4 unless the hmask bit is
// set: element 32k + l (k in 0..7, l in 0..31) has its high bit in bit k of hmask[l]; q in -4..3.
// scales: 16 6-bit values (stored +32) packed in 12 bytes: low 4 bits of scale i in
// scales[i % 8] >> (4 * (i / 8)), high 2 bits in scales[8 + i % 4] >> (2 * (i / 4)).
// x = d * (scale - 32) * q.
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};

// 8 sub-blocks of 32. scales: 8 scales and 8 mins of 6 bits (see PackScalesMinsK / GetScaleMinK4).
// qs: for pair p (64 elements), qs[32p + l] low nibble = element 64p + l, high nibble = 64p + 32 + l.
// x = d * scale * q - dmin * min, q in 0..15.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};

// As Q4_K, plus a fifth bit: element 32k + l has it in bit k of qh[l]; q in 0..31.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// 16 sub-blocks of 16 with int8 scales. For half h (128 elements) and l in 0..31, with
// a = ql[64h + l], b = ql[64h + 32 + l], c = qh[32h + l]:
//   element 128h + l      = (a & 15) | ((c >> 0 & 3) << 4)
//   element 128h + 32 + l = (b & 15) | ((c >> 2 & 3) << 4)
//   element 128h + 64 + l = (a >> 4) | ((c >> 4 & 3) << 4)
//   element 128h + 96 + l = (b >> 4) | ((c >> 6 & 3) << 4)
// x = d * scales[e / 16] * (q - 32), q in 0..63.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

// Activations for integer dot products: x = d * qs; bsums[i] = sum of qs[16i .. 16i+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// Block sizes must agree with the dtype table (dtype.cc); checked at start-up by traits_test.
template <typename Block>
struct BlockOf;
template <> struct BlockOf<BlockQ4_0> { static constexpr DType kType = DType::kQ4_0; static constexpr int kN = kQK4_0; };
template <> struct BlockOf<BlockQ4_1> { static constexpr DType kType = DType::kQ4_1; static constexpr int kN = kQK4_1; };
template <> struct BlockOf<BlockQ5_0> { static constexpr DType kType = DType::kQ5_0; static constexpr int kN = kQK5_0; };
template <> struct BlockOf<BlockQ5_1> { static constexpr DType kType = DType::kQ5_1; static constexpr int kN = kQK5_1; };
template <> struct BlockOf<BlockQ8_0> { static constexpr DType kType = DType::kQ8_0; static constexpr int kN = kQK8_0; };
template <> struct BlockOf<BlockQ8_1> { static constexpr DType kType = DType::kQ8_1; static constexpr int kN = kQK8_1; };
template <> struct BlockOf<BlockQ2_K> { static constexpr DType kType = DType::kQ2_K; static constexpr int kN = kQK_K; };
template <> struct BlockOf<BlockQ3_K> { static constexpr DType kType = DType::kQ3_K; static constexpr int kN = kQK_K; };
template <> struct BlockOf<BlockQ4_K> { static constexpr DType kType = DType::kQ4_K; static constexpr int kN = kQK_K; };
template <> struct BlockOf<BlockQ5_K> { static constexpr DType kType = DType::kQ5_K; static constexpr int kN = kQK_K; };
template <> struct BlockOf<BlockQ6_K> { static constexpr DType kType = DType::kQ6_K; static constexpr int kN = kQK_K; };
template <> struct BlockOf<BlockQ8_K> { static constexpr DType kType = DType::kQ8_K; static constexpr int kN = kQK_K; };

}  // namespace flotilla
