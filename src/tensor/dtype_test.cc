#include "tensor/dtype.h"

#include <gtest/gtest.h>

namespace flotilla {
namespace {

TEST(DType, LookupByIdAndName) {
  ASSERT_TRUE(LookupDType(12).has_value());
  EXPECT_EQ(LookupDType(12)->dtype, DType::kQ4_K);
  EXPECT_FALSE(LookupDType(16).has_value());  // IQ2_XXS: a ggml type flotilla does not read
  EXPECT_FALSE(LookupDType(1000).has_value());
  EXPECT_EQ(DTypeFromName("Q8_0"), DType::kQ8_0);
  EXPECT_EQ(DTypeFromName("q4_k"), DType::kQ4_K);
  EXPECT_FALSE(DTypeFromName("q9_0").has_value());
  EXPECT_EQ(DTypeName(DType::kBF16), "bf16");
}

TEST(DType, RowBytesNeedsWholeBlocksAndNoOverflow) {
  EXPECT_EQ(RowBytes(DType::kF32, 10), 40u);
  EXPECT_EQ(RowBytes(DType::kQ8_0, 64), 68u);
  EXPECT_EQ(RowBytes(DType::kQ4_K, 512), 288u);
  EXPECT_FALSE(RowBytes(DType::kQ8_0, 33).has_value());
  EXPECT_FALSE(RowBytes(DType::kF32, uint64_t{1} << 62).has_value());
  EXPECT_FALSE(RowBytes(DType::kF64, UINT64_MAX).has_value());
}

}  // namespace
}  // namespace flotilla
