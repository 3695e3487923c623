// Hand-built blocks dequantize to values worked out by hand from the layouts in quant_blocks.h
// (ggml-common.h). Each case sets a few fields and states the expected numbers, so a misplaced nibble,
// bit or scale index shows up here rather than as a slightly worse model.
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/traits.h"

namespace flotilla {
namespace {

constexpr uint16_t kHalf1 = 0x3C00;      // 1.0
constexpr uint16_t kHalf0_5 = 0x3800;    // 0.5
constexpr uint16_t kHalf0_25 = 0x3400;   // 0.25
constexpr uint16_t kHalf0_125 = 0x3000;  // 0.125
constexpr uint16_t kHalf2 = 0x4000;      // 2.0
constexpr uint16_t kHalfM1 = 0xBC00;     // -1.0

template <typename Block>
std::vector<float> Dequant(const Block& b) {
  std::vector<float> out(BlockOf<Block>::kN);
  const auto* bytes = reinterpret_cast<const uint8_t*>(&b);
  const Status st = DequantizeTensor(BlockOf<Block>::kType, {bytes, sizeof(Block)},
                                     BlockOf<Block>::kN, out.data());
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

void ExpectAllEq(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "element " << i;
}

TEST(Layout, Q4_0) {
  BlockQ4_0 b{};
  b.d = kHalf0_5;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::vector<float> want(32);
  for (int j = 0; j < 16; ++j) {
    want[j] = 0.5f * (j - 8);        // low nibble: first half
    want[j + 16] = 0.5f * (7 - j);   // high nibble: second half, (15 - j) - 8
  }
  ExpectAllEq(Dequant(b), want);
}

TEST(Layout, Q4_1) {
  BlockQ4_1 b{};
  b.d = kHalf0_25;
  b.m = kHalfM1;
  b.qs[0] = 0x2F;
  std::vector<float> want(32, -1.0f);  // q = 0 -> m
  want[0] = 0.25f * 15 - 1;            // 2.75
  want[16] = 0.25f * 2 - 1;            // -0.5
  ExpectAllEq(Dequant(b), want);
}

TEST(Layout, Q5_0) {
  BlockQ5_0 b{};
  b.d = kHalf1;
  b.qh[0] = 0x01;  // bit 0: element 0
  b.qh[2] = 0x02;  // bit 17: element 17
  b.qs[0] = 0x05;
  b.qs[1] = 0xA3;
  std::vector<float> want(32, -16.0f);
  want[0] = (5 | 16) - 16;   // 5
  want[1] = 3 - 16;          // -13
  want[17] = (10 | 16) - 16; // 10
  ExpectAllEq(Dequant(b), want);
}

TEST(Layout, Q5_1) {
  BlockQ5_1 b{};
  b.d = kHalf0_5;
  b.m = kHalf2;
  b.qh[3] = 0x80;  // bit 31: element 31
  b.qs[15] = 0xF0;
  std::vector<float> want(32, 2.0f);
  want[31] = 0.5f * (15 | 16) + 2;  // 17.5
  ExpectAllEq(Dequant(b), want);
}

TEST(Layout, Q8_0AndQ8_1) {
  BlockQ8_0 b{};
  BlockQ8_1 b1{};
  b.d = b1.d = kHalf0_125;
  std::vector<float> want(32);
  for (int j = 0; j < 32; ++j) {
    b.qs[j] = b1.qs[j] = static_cast<int8_t>(j - 16);
    want[j] = (j - 16) / 8.0f;
  }
  ExpectAllEq(Dequant(b), want);
  ExpectAllEq(Dequant(b1), want);
}

TEST(Layout, Q2_K) {
  BlockQ2_K b{};
  b.d = kHalf1;
  b.dmin = kHalf0_5;
  b.scales[0] = 0x21;   // sub-block 0: scale 1, min 2
  b.scales[1] = 0x03;   // sub-block 1: scale 3, min 0
  b.scales[9] = 0x12;   // sub-block 9: scale 2, min 1
  b.scales[10] = 0x45;  // sub-block 10: scale 5, min 4
  b.qs[0] = 0xE4;       // elements 0, 32, 64, 96 get q = 0, 1, 2, 3 (all in zero-scale sub-blocks but 0)
  b.qs[16] = 0x03;      // element 16 (sub-block 1) q = 3
  b.qs[33] = 0x08;      // half 1, shift 2, l = 1: element 128 + 32 + 1 = 161 (sub-block 10) q = 2
  std::vector<float> want(256, 0.0f);
  for (int e = 0; e < 16; ++e) want[e] = -0.5f * 2;         // sub-block 0, q = 0
  for (int e = 144; e < 160; ++e) want[e] = -0.5f * 1;      // sub-block 9, q = 0
  for (int e = 160; e < 176; ++e) want[e] = -0.5f * 4;      // sub-block 10, q = 0
  want[16] = 3.0f * 3;                                       // 9
  want[161] = 5.0f * 2 - 0.5f * 4;                           // 8
  ExpectAllEq(Dequant(b), want);
}

TEST(Layout, Q3_K) {
  BlockQ3_K b{};
  b.d = kHalf0_5;
  // Stored scales (value + 32): sub-block 0 = 33, 9 = 34, 15 = 0, all others 32 (i.e. scale 0).
  // Low nibble of i in scales[i % 8] >> 4*(i/8); high 2 bits in scales[8 + i%4] >> 2*(i/4).
  const uint8_t scales[12] = {0x01, 0x20, 0, 0, 0, 0, 0, 0, 0xAA, 0xAA, 0xAA, 0x2A};
  std::memcpy(b.scales, scales, 12);
  std::memset(b.hmask, 0xFF, sizeof(b.hmask));  // high bit set: q = low 2 bits
  b.hmask[0] = 0xFE;   // element 0 (k = 0): q = low - 4
  b.qs[0] = 0x03;      // element 0: low = 3 -> q = -1
  b.qs[48] = 0x02;     // half 1, shift 0, l = 16: element 144 (sub-block 9), q = 2
  b.qs[63] = 0x40;     // half 1, shift 6, l = 31: element 255 (sub-block 15), low = 1
  b.hmask[31] = 0x7F;  // element 255 = 32*7 + 31: bit 7 clear -> q = 1 - 4 = -3
  std::vector<float> want(256, 0.0f);
  want[0] = 0.5f * 1 * -1;     // -0.5
  want[144] = 0.5f * 2 * 2;    // 2
  want[255] = 0.5f * -32 * -3; // 48
  // Sub-block 15's other elements: low = 0, high bit set -> q = 0 -> 0.
  ExpectAllEq(Dequant(b), want);
}

// Scales for Q4_K/Q5_K: sub-block 0: sc 2, mn 4; sub-block 5: sc 33, mn 18 (needs the high-bit path).
//   scales[0] = 2, scales[4] = 4; scales[9] = (33 & 15) | (18 & 15) << 4 = 0x21,
//   scales[1] |= (33 >> 4) << 6 = 0x80, scales[5] |= (18 >> 4) << 6 = 0x40.
constexpr uint8_t kK4Scales[12] = {2, 0x80, 0, 0, 4, 0x40, 0, 0, 0, 0x21, 0, 0};

TEST(Layout, Q4_K) {
  BlockQ4_K b{};
  b.d = kHalf1;
  b.dmin = kHalf0_25;
  std::memcpy(b.scales, kK4Scales, 12);
  b.qs[0] = 0x07;   // element 0 (pair 0, low nibble) q = 7
  b.qs[65] = 0xA0;  // pair 2 high nibble, l = 1: element 128 + 32 + 1 = 161 (sub-block 5) q = 10
  std::vector<float> want(256, 0.0f);
  for (int e = 0; e < 32; ++e) want[e] = -0.25f * 4;
  for (int e = 160; e < 192; ++e) want[e] = -0.25f * 18;
  want[0] = 2.0f * 7 - 1;         // 13
  want[161] = 33.0f * 10 - 4.5f;  // 325.5
  ExpectAllEq(Dequant(b), want);
}

TEST(Layout, Q5_K) {
  BlockQ5_K b{};
  b.d = kHalf1;
  b.dmin = kHalf0_25;
  std::memcpy(b.scales, kK4Scales, 12);
  b.qs[0] = 0x07;
  b.qs[65] = 0xA0;
  b.qh[0] = 0x01;  // element 0 = 32*0 + 0: bit 0 of qh[0]
  b.qh[1] = 0x20;  // element 161 = 32*5 + 1: bit 5 of qh[1]
  std::vector<float> want(256, 0.0f);
  for (int e = 0; e < 32; ++e) want[e] = -0.25f * 4;
  for (int e = 160; e < 192; ++e) want[e] = -0.25f * 18;
  want[0] = 2.0f * (7 + 16) - 1;           // 45
  want[161] = 33.0f * (10 + 16) - 4.5f;    // 853.5
  ExpectAllEq(Dequant(b), want);
}

TEST(Layout, Q6_K) {
  BlockQ6_K b{};
  b.d = kHalf0_5;
  b.scales[0] = 2;
  b.scales[4] = 1;
  b.scales[6] = -3;
  b.scales[10] = 4;
  b.ql[0] = 0x0F;   // element 0: low 4 bits 15
  b.qh[0] = 0x01;   //            high 2 bits 1 -> q = 31 - 32 = -1
  b.ql[36] = 0x50;  // element 100 = 96 + 4: high nibble of ql[32 + 4] = 5
  b.qh[4] = 0x80;   //            bits 6..7 of qh[4] = 2 -> q = 37 - 32 = 5
  b.ql[99] = 0x01;  // element 163 = 128 + 32 + 3: low nibble of ql[64 + 32 + 3] = 1
  b.qh[35] = 0x0C;  //            bits 2..3 of qh[32 + 3] = 3 -> q = 49 - 32 = 17
  std::vector<float> want(256, 0.0f);
  for (int e = 0; e < 16; ++e) want[e] = 0.5f * 2 * -32;      // q = 0 -> -32
  for (int e = 64; e < 80; ++e) want[e] = 0.5f * 1 * -32;
  for (int e = 96; e < 112; ++e) want[e] = 0.5f * -3 * -32;
  for (int e = 160; e < 176; ++e) want[e] = 0.5f * 4 * -32;
  want[0] = 0.5f * 2 * -1;     // -1
  want[100] = 0.5f * -3 * 5;   // -7.5
  want[163] = 0.5f * 4 * 17;   // 34
  ExpectAllEq(Dequant(b), want);
}

TEST(Layout, Q8_K) {
  BlockQ8_K b{};
  b.d = 0.25f;
  std::vector<float> want(256);
  for (int j = 0; j < 256; ++j) {
    b.qs[j] = static_cast<int8_t>(j - 128);
    want[j] = (j - 128) * 0.25f;
  }
  ExpectAllEq(Dequant(b), want);
}

// Values on Q8_0's grid (d = amax / 127) quantize to exactly their grid indices.
TEST(Layout, Q8_0QuantizesGridValuesExactly) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = (j - 16) * (2.0f / 127.0f);
  x[0] = -2.0f;  // amax 2: d = 2 / 127, index -127
  auto q = QuantizeTensor(DType::kQ8_0, x.data(), 1, 32);
  ASSERT_TRUE(q.ok());
  const auto* b = reinterpret_cast<const BlockQ8_0*>(q->data());
  EXPECT_EQ(b->qs[0], -127);
  for (int j = 1; j < 32; ++j) EXPECT_EQ(b->qs[j], j - 16);
}

}  // namespace
}  // namespace flotilla
