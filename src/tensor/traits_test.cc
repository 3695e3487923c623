// The traits table agrees with the dtype table and the block structs; the checked entry points reject
// bad sizes with INVALID_ARGUMENT and unsupported types with UNIMPLEMENTED.
#include "tensor/traits.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "base/thread_pool.h"

#include "tensor/quant_blocks.h"

namespace flotilla {
namespace {

template <typename Block>
void ExpectBlockMatchesTable() {
  const DTypeTraits& t = GetTraits(BlockOf<Block>::kType);
  EXPECT_EQ(t.block_bytes, sizeof(Block)) << DTypeName(t.dtype);
  EXPECT_EQ(t.block_size, static_cast<uint32_t>(BlockOf<Block>::kN)) << DTypeName(t.dtype);
  EXPECT_NE(t.dequantize_row, nullptr);
}

TEST(Traits, BlockStructsMatchDTypeTable) {
  ExpectBlockMatchesTable<BlockQ4_0>();
  ExpectBlockMatchesTable<BlockQ4_1>();
  ExpectBlockMatchesTable<BlockQ5_0>();
  ExpectBlockMatchesTable<BlockQ5_1>();
  ExpectBlockMatchesTable<BlockQ8_0>();
  ExpectBlockMatchesTable<BlockQ8_1>();
  ExpectBlockMatchesTable<BlockQ2_K>();
  ExpectBlockMatchesTable<BlockQ3_K>();
  ExpectBlockMatchesTable<BlockQ4_K>();
  ExpectBlockMatchesTable<BlockQ5_K>();
  ExpectBlockMatchesTable<BlockQ6_K>();
  ExpectBlockMatchesTable<BlockQ8_K>();
}

TEST(Traits, EveryKnownTypeHasAnEntry) {
  for (uint32_t id = 0; id < 64; ++id) {
    const auto info = LookupDType(id);
    if (!info) continue;
    const DTypeTraits& t = GetTraits(info->dtype);
    EXPECT_EQ(t.dtype, info->dtype);
    EXPECT_EQ(t.block_size, info->block_size);
    EXPECT_EQ(t.block_bytes, info->block_bytes);
  }
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                  DType::kQ5_1, DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_K}) {
    EXPECT_NE(GetTraits(d).quantize_row, nullptr) << DTypeName(d);
  }
  EXPECT_EQ(GetTraits(DType::kI32).dequantize_row, nullptr);
}

TEST(Traits, QuantizeRejectsPartialBlocks) {
  std::vector<float> x(300, 1.0f);
  auto q = QuantizeTensor(DType::kQ4_K, x.data(), 1, 300);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(q.status().message().find("row length 300"), std::string::npos) << q.status().message();
  EXPECT_NE(q.status().message().find("block size 256"), std::string::npos) << q.status().message();

  auto q2 = QuantizeTensor(DType::kQ8_0, x.data(), 3, 100);
  ASSERT_FALSE(q2.ok());
  EXPECT_EQ(q2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeTensor(DType::kQ8_0, x.data(), -1, 32).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Traits, QuantizeSizesAndEmpty) {
  std::vector<float> x(3 * 64, 0.5f);
  auto q = QuantizeTensor(DType::kQ8_0, x.data(), 3, 64);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->size(), 3u * 2 * 34);
  auto f16 = QuantizeTensor(DType::kF16, x.data(), 3, 5);  // plain types: any row length
  ASSERT_TRUE(f16.ok());
  EXPECT_EQ(f16->size(), 30u);
  auto empty = QuantizeTensor(DType::kQ4_0, x.data(), 0, 32);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Traits, QuantizeUnsupportedType) {
  std::vector<float> x(32, 1.0f);
  EXPECT_EQ(QuantizeTensor(DType::kI8, x.data(), 1, 32).status().code(), StatusCode::kUnimplemented);
}

TEST(Traits, DequantizeValidatesSizes) {
  std::vector<uint8_t> bytes(2 * 34, 0);
  std::vector<float> out(64);
  EXPECT_TRUE(DequantizeTensor(DType::kQ8_0, bytes, 64, out.data()).ok());
  // Not whole blocks.
  const Status partial = DequantizeTensor(DType::kQ8_0, bytes, 48, out.data());
  EXPECT_EQ(partial.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(partial.message().find("not a multiple"), std::string::npos) << partial.message();
  // Byte count does not match the element count.
  const Status short_src = DequantizeTensor(DType::kQ8_0, {bytes.data(), 67}, 64, out.data());
  EXPECT_EQ(short_src.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(short_src.message().find("68 bytes, got 67"), std::string::npos) << short_src.message();
  EXPECT_EQ(DequantizeTensor(DType::kQ8_0, bytes, -32, out.data()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DequantizeTensor(DType::kI16, bytes, 34, out.data()).code(), StatusCode::kUnimplemented);
}

TEST(Traits, QuantizeAcrossAPoolWritesTheSameBytes) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(37 * 512);
  for (float& v : x) v = normal(rng);
  ThreadPool pool(3);
  for (DType dtype : {DType::kF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    auto alone = QuantizeTensor(dtype, x.data(), 37, 512);
    auto pooled = QuantizeTensor(dtype, x.data(), 37, 512, &pool);
    ASSERT_TRUE(alone.ok() && pooled.ok()) << DTypeName(dtype);
    EXPECT_EQ(*alone, *pooled) << DTypeName(dtype);
  }
  EXPECT_TRUE(QuantizeTensor(DType::kQ8_0, x.data(), 0, 512, &pool)->empty());
}

}  // namespace
}  // namespace flotilla
