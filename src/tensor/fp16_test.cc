// Half and bfloat16 conversions: exact round trips, rounding ties, subnormals, Inf and NaN.
#include "tensor/fp16.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include <gtest/gtest.h>

namespace flotilla {
namespace {

bool HalfIsNan(uint16_t h) { return (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0; }
bool BF16IsNan(uint16_t b) { return (b & 0x7F80) == 0x7F80 && (b & 0x007F) != 0; }

TEST(FP16, EveryHalfRoundTripsExactly) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = FP16ToFP32(static_cast<uint16_t>(h));
    if (HalfIsNan(static_cast<uint16_t>(h))) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      EXPECT_TRUE(HalfIsNan(FP32ToFP16(f))) << std::hex << h;
      continue;
    }
    ASSERT_EQ(FP32ToFP16(f), h) << std::hex << h << " -> " << f;
  }
}

TEST(FP16, KnownValues) {
  EXPECT_EQ(FP32ToFP16(0.0f), 0x0000);
  EXPECT_EQ(FP32ToFP16(-0.0f), 0x8000);
  EXPECT_EQ(FP32ToFP16(1.0f), 0x3C00);
  EXPECT_EQ(FP32ToFP16(-2.0f), 0xC000);
  EXPECT_EQ(FP32ToFP16(65504.0f), 0x7BFF);  // largest half
  EXPECT_EQ(FP16ToFP32(0x3555), 0.333251953125f);
  EXPECT_EQ(FP32ToFP16(0x1p-14f), 0x0400);  // smallest normal
  EXPECT_EQ(FP16ToFP32(0x0001), 0x1p-24f);  // smallest subnormal
  EXPECT_EQ(FP16ToFP32(0x03FF), 1023 * 0x1p-24f);
}

TEST(FP16, RoundsTiesToEven) {
  // Normal range: 1 + 2^-11 is halfway between 0x3C00 and 0x3C01 -> even 0x3C00; 1 + 3*2^-11 between
  // 0x3C01 and 0x3C02 -> 0x3C02. Just above/below a tie goes to the nearer value.
  EXPECT_EQ(FP32ToFP16(1.0f + 0x1p-11f), 0x3C00);
  EXPECT_EQ(FP32ToFP16(1.0f + 3 * 0x1p-11f), 0x3C02);
  EXPECT_EQ(FP32ToFP16(std::nextafter(1.0f + 0x1p-11f, 2.0f)), 0x3C01);
  EXPECT_EQ(FP32ToFP16(std::nextafter(1.0f + 3 * 0x1p-11f, 0.0f)), 0x3C01);
  // Subnormal range: 2^-25 ties between 0 and 0x0001 -> 0; 3*2^-25 between 1 and 2 -> 2.
  EXPECT_EQ(FP32ToFP16(0x1p-25f), 0x0000);
  EXPECT_EQ(FP32ToFP16(3 * 0x1p-25f), 0x0002);
  EXPECT_EQ(FP32ToFP16(-3 * 0x1p-25f), 0x8002);
  EXPECT_EQ(FP32ToFP16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  // Largest subnormal + half an ulp carries into the smallest normal.
  EXPECT_EQ(FP32ToFP16(1023.5f * 0x1p-24f), 0x0400);
  // Float subnormals far below the half range become (signed) zero.
  EXPECT_EQ(FP32ToFP16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(FP32ToFP16(-std::numeric_limits<float>::denorm_min()), 0x8000);
}

TEST(FP16, OverflowInfAndNan) {
  EXPECT_EQ(FP32ToFP16(65519.99f), 0x7BFF);  // below the midpoint to Inf
  EXPECT_EQ(FP32ToFP16(65520.0f), 0x7C00);   // the midpoint rounds to even: Inf
  EXPECT_EQ(FP32ToFP16(1e10f), 0x7C00);
  EXPECT_EQ(FP32ToFP16(-1e10f), 0xFC00);
  EXPECT_EQ(FP32ToFP16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(FP32ToFP16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_TRUE(std::isinf(FP16ToFP32(0x7C00)));
  EXPECT_TRUE(HalfIsNan(FP32ToFP16(std::numeric_limits<float>::quiet_NaN())));
  // A NaN whose payload lives only in the low float bits must not turn into Inf.
  EXPECT_TRUE(HalfIsNan(FP32ToFP16(std::bit_cast<float>(0x7F800001u))));
  EXPECT_EQ(FP32ToFP16(std::bit_cast<float>(0xFFC00000u)) & 0x8000, 0x8000);  // sign kept
}

#if defined(__FLT16_MAX__)
// The compiler's _Float16 conversion is IEEE round-to-nearest-even: agree with it on random floats
// across the whole exponent range.
TEST(FP16, MatchesCompilerFloat16OnRandomFloats) {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000000; ++i) {
    const uint32_t bits = rng();
    const float f = std::bit_cast<float>(bits);
    if (std::isnan(f)) continue;
    const _Float16 h = static_cast<_Float16>(f);
    ASSERT_EQ(FP32ToFP16(f), std::bit_cast<uint16_t>(h)) << std::hexfloat << f;
  }
}
#endif

TEST(BF16, EveryBF16RoundTripsExactly) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = BF16ToFP32(static_cast<uint16_t>(b));
    if (BF16IsNan(static_cast<uint16_t>(b))) {
      EXPECT_TRUE(std::isnan(f));
      EXPECT_TRUE(BF16IsNan(FP32ToBF16(f)));
      continue;
    }
    ASSERT_EQ(FP32ToBF16(f), b) << std::hex << b;
  }
}

TEST(BF16, RoundingTiesInfNan) {
  EXPECT_EQ(FP32ToBF16(1.0f), 0x3F80);
  EXPECT_EQ(FP32ToBF16(1.0f + 0x1p-8f), 0x3F80);      // tie -> even
  EXPECT_EQ(FP32ToBF16(1.0f + 3 * 0x1p-8f), 0x3F82);  // tie -> even
  EXPECT_EQ(FP32ToBF16(std::nextafter(1.0f + 0x1p-8f, 2.0f)), 0x3F81);
  EXPECT_EQ(FP32ToBF16(std::bit_cast<float>(0x7F7FFFFFu)), 0x7F80);  // FLT_MAX rounds to Inf
  EXPECT_EQ(FP32ToBF16(std::bit_cast<float>(0x7F7F7FFFu)), 0x7F7F);
  EXPECT_EQ(FP32ToBF16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(FP32ToBF16(std::bit_cast<float>(0x00010000u)), 0x0001);  // subnormals kept
  EXPECT_TRUE(BF16IsNan(FP32ToBF16(std::bit_cast<float>(0x7F800001u))));  // not Inf
  EXPECT_TRUE(BF16IsNan(FP32ToBF16(std::numeric_limits<float>::quiet_NaN())));
}

}  // namespace
}  // namespace flotilla
