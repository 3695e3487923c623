// IEEE binary16 ("half", ggml_half) and bfloat16 conversions, bit-exact and branch-light.
//
// Contracts:
// - FP32ToFP16 / FP32ToBF16 round to nearest, ties to even; overflow gives +-Inf; NaN stays NaN (quiet,
//   sign kept); FP16 keeps subnormals (no flush to zero).
// - FP16ToFP32 / BF16ToFP32 are exact (every half and bfloat16 value is a float).
// The stored form is the raw uint16_t bit pattern, as in GGUF files (little-endian on disk).
#pragma once

#include <bit>
#include <cstdint>

namespace flotilla {

inline float FP16ToFP32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) {  // Inf or NaN: keep the payload's top bits.
    return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));
  }
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float.
    const float mag = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -mag : mag;
  }
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

inline uint16_t FP32ToFP16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) {  // NaN: quiet it, keep the top payload bits.
    return static_cast<uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  }
  if (abs >= 0x477FF000u) {  // >= 65520 (max half + half an ulp) rounds to Inf; also Inf itself.
    return static_cast<uint16_t>(sign | 0x7C00u);
  }
  if (abs < 0x38800000u) {  // below 2^-14: a subnormal half (or zero).
    // abs_f * 2^24 is the subnormal mantissa; float addition of 0.5 (the magic constant trick) rounds
    // it to nearest-even: adding 2^23 puts the integer part in the low mantissa bits.
    const float mag = std::bit_cast<float>(abs);
    const float shifted = mag * 0x1p24f + 0x1p23f;  // exact scaling, RNE in the addition
    const uint32_t m = std::bit_cast<uint32_t>(shifted) - 0x4B000000u;  // 0..0x400
    return static_cast<uint16_t>(sign | m);  // m == 0x400 is the smallest normal: still right
  }
  // Normal: rebias the exponent, round away 13 mantissa bits to nearest-even. A carry out of the
  // mantissa bumps the exponent, which is the correct result (up to Inf, excluded above).
  const uint32_t lsb = (abs >> 13) & 1u;
  const uint32_t rounded = abs + 0xFFFu + lsb;
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

inline float BF16ToFP32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

inline uint16_t FP32ToBF16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {  // NaN: truncate and force quiet so it stays NaN.
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  }
  const uint32_t lsb = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7FFFu + lsb) >> 16);  // RNE; overflow carries into Inf
}

}  // namespace flotilla
