// The SIMD activation quantizers against QuantizeRowQ8_0_ref / QuantizeRowQ8_K_ref, byte for byte,
// on every instruction set this binary was compiled for and the machine supports: random values at
// many scales, all-zero blocks, exact .5 ties, huge, tiny (subnormal), infinite and NaN inputs.
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "kernels/quantize_acts.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"

namespace flotilla {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// A named input of `blocks` blocks of `bs` values each.
struct Input {
  std::string name;
  std::vector<float> x;
};

// Block with maximum 127 * 2^e: the scale is exactly 2^e (Q8_0 and Q8_K), so (k + 0.5) * 2^e lands
// on the tie k + 0.5 after scaling. Ties of both signs from -126.5 to 126.5, then filler.
void FillTies(float* x, int bs, int e, std::mt19937& rng) {
  const float step = std::ldexp(1.0f, e);
  x[0] = 127.0f * step;
  std::uniform_int_distribution<int> k(-127, 126);
  for (int i = 1; i < bs; ++i) x[i] = (static_cast<float>(k(rng)) + 0.5f) * step;
  x[1] = 0.5f * step;
  x[2] = -0.5f * step;
  x[3] = 126.5f * step;
  x[4] = -126.5f * step;
  x[5] = 1.5f * step;
  x[6] = -2.5f * step;
}

std::vector<Input> MakeInputs(int bs) {
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<Input> in;
  for (float scale : {1e-38f, 1e-20f, 1e-3f, 1.0f, 3.7f, 1e3f, 1e20f, 1e36f}) {
    Input r{"normal*" + std::to_string(scale), std::vector<float>(static_cast<size_t>(bs) * 7)};
    for (float& v : r.x) v = normal(rng) * scale;
    in.push_back(std::move(r));
  }
  {  // Many blocks with scales far apart: Q8_0 handles blocks 16 at a time, here two whole batches and
     // a partial one.
    Input r{"37 blocks of mixed scales", std::vector<float>(static_cast<size_t>(bs) * 37)};
    for (size_t i = 0; i < r.x.size(); ++i)
      r.x[i] = normal(rng) * std::ldexp(1.0f, static_cast<int>(i / bs % 9) * 8 - 40);
    in.push_back(std::move(r));
  }
  {  // Heavy tails: one large value per block and the rest small, so many quants round to 0 or +-1.
    Input r{"spiky", std::vector<float>(static_cast<size_t>(bs) * 5)};
    for (size_t i = 0; i < r.x.size(); ++i) r.x[i] = (i % 37 == 3 ? 100.0f : 0.3f) * normal(rng);
    in.push_back(std::move(r));
  }
  in.push_back({"zeros", std::vector<float>(static_cast<size_t>(bs) * 3, 0.0f)});
  {
    Input r{"signed zeros and one nonzero block", std::vector<float>(static_cast<size_t>(bs) * 3, -0.0f)};
    for (int i = 0; i < bs; ++i) r.x[static_cast<size_t>(bs + i)] = normal(rng);
    in.push_back(std::move(r));
  }
  for (int e : {-140, -126, -20, -3, 0, 1, 7, 100}) {
    Input r{"ties*2^" + std::to_string(e), std::vector<float>(static_cast<size_t>(bs) * 4)};
    for (int b = 0; b < 4; ++b) FillTies(r.x.data() + b * bs, bs, e, rng);
    in.push_back(std::move(r));
  }
  {  // Subnormals only: the inverse scale overflows to Inf (x * Inf, 0 * Inf = NaN).
    Input r{"subnormal", std::vector<float>(static_cast<size_t>(bs) * 3)};
    for (float& v : r.x) v = normal(rng) * 1e-40f;
    r.x[5] = 0.0f;
    r.x[static_cast<size_t>(bs) + 1] = 1e-45f;
    in.push_back(std::move(r));
  }
  {  // Values near the float maximum: the half scale overflows; Inf and NaN in some blocks.
    Input r{"huge, inf, nan", std::vector<float>(static_cast<size_t>(bs) * 6)};
    for (float& v : r.x) v = normal(rng) * 3e38f;
    r.x[0] = std::numeric_limits<float>::max();
    r.x[static_cast<size_t>(bs) + 3] = kInf;
    r.x[static_cast<size_t>(2 * bs) + 4] = -kInf;
    r.x[static_cast<size_t>(2 * bs) + 9] = kNaN;
    for (int i = 0; i < bs; ++i) r.x[static_cast<size_t>(3 * bs + i)] = i % 2 ? kNaN : normal(rng);
    for (int i = 0; i < bs; ++i) r.x[static_cast<size_t>(4 * bs + i)] = kNaN;
    for (int i = 0; i < bs; ++i) r.x[static_cast<size_t>(5 * bs + i)] = i % 3 ? 0.0f : -kInf;
    in.push_back(std::move(r));
  }
  {  // Ordinary values with one NaN or Inf per block (NaN maps to 0 in Q8_0 and to -127 in Q8_K).
    Input r{"normal with nan/inf", std::vector<float>(static_cast<size_t>(bs) * 4)};
    for (float& v : r.x) v = normal(rng);
    r.x[7] = kNaN;
    r.x[static_cast<size_t>(bs) + 2] = kInf;
    r.x[static_cast<size_t>(2 * bs) + 11] = -kNaN;
    in.push_back(std::move(r));
  }
  return in;
}

// Runs `check` once per compiled and supported instruction set; returns how many ran.
template <typename Check>
int ForEachTarget(const char* what, Check check) {
  int tested = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    EXPECT_STREQ(QuantizeActsTargetName(), hwy::TargetName(target));
    check(hwy::TargetName(target));
    ++tested;
  }
  hwy::SetSupportedTargetsForTest(0);
  std::printf("%s: %d instruction sets tested\n", what, tested);
  return tested;
}

void CheckQ8_0(const Input& in, int64_t offset, const char* target) {
  // x: in.x from `offset` on, whole blocks (an unaligned pointer when offset > 0).
  const float* x = in.x.data() + offset;
  const int64_t n = (static_cast<int64_t>(in.x.size()) - offset) / kQK8_0 * kQK8_0, nb = n / kQK8_0;
  std::vector<BlockQ8_0> ref(static_cast<size_t>(nb));
  QuantizeRowQ8_0_ref(x, ref.data(), n);
  std::vector<int8_t> q(static_cast<size_t>(n), 99);
  std::vector<float> d(static_cast<size_t>(nb), -1.0f);
  std::vector<int32_t> xsum(static_cast<size_t>(nb), -999);
  QuantizeActsQ8_0(x, n, q.data(), d.data(), xsum.data());
  for (int64_t b = 0; b < nb; ++b) {
    const std::string where = in.name + " block " + std::to_string(b) + " on " + target;
    ASSERT_EQ(std::memcmp(q.data() + b * kQK8_0, ref[b].qs, kQK8_0), 0) << where;
    const float d_ref = FP16ToFP32(ref[b].d);
    ASSERT_EQ(std::memcmp(&d[b], &d_ref, sizeof(float)), 0) << where << ": " << d[b] << " vs " << d_ref;
    int32_t sum = 0;
    for (int j = 0; j < kQK8_0; ++j) sum += ref[b].qs[j];
    ASSERT_EQ(xsum[b], sum) << where;
  }
  // Without sums: the same quants and scales.
  std::vector<int8_t> q2(q.size());
  std::vector<float> d2(d.size());
  QuantizeActsQ8_0(x, n, q2.data(), d2.data(), nullptr);
  ASSERT_EQ(q2, q) << in.name;
  ASSERT_EQ(std::memcmp(d2.data(), d.data(), d.size() * sizeof(float)), 0) << in.name;
}

void CheckQ8_K(const Input& in, int64_t offset, const char* target) {
  const float* x = in.x.data() + offset;
  const int64_t n = (static_cast<int64_t>(in.x.size()) - offset) / kQK_K * kQK_K, nb = n / kQK_K;
  std::vector<BlockQ8_K> ref(static_cast<size_t>(nb)), got(static_cast<size_t>(nb));
  std::memset(ref.data(), 0x5A, ref.size() * sizeof(BlockQ8_K));
  std::memset(got.data(), 0xA5, got.size() * sizeof(BlockQ8_K));
  QuantizeRowQ8_K_ref(x, ref.data(), n);
  QuantizeActsQ8_K(x, n, got.data());
  for (int64_t b = 0; b < nb; ++b) {
    const std::string where = in.name + " block " + std::to_string(b) + " on " + target;
    ASSERT_EQ(std::memcmp(&got[b].d, &ref[b].d, sizeof(float)), 0) << where << ": " << got[b].d << " vs " << ref[b].d;
    ASSERT_EQ(std::memcmp(got[b].qs, ref[b].qs, kQK_K), 0) << where;
    ASSERT_EQ(std::memcmp(got[b].bsums, ref[b].bsums, sizeof(ref[b].bsums)), 0) << where;
  }
}

TEST(QuantizeActs, Q8_0MatchesReferenceOnEveryTarget) {
  const std::vector<Input> inputs = MakeInputs(kQK8_0);
  const int tested = ForEachTarget("Q8_0", [&](const char* target) {
    for (const Input& in : inputs) {
      CheckQ8_0(in, 0, target);
      CheckQ8_0(in, 5, target);  // unaligned source, blocks straddling the inputs' blocks
    }
  });
  EXPECT_GE(tested, 1);
}

TEST(QuantizeActs, Q8_KMatchesReferenceOnEveryTarget) {
  const std::vector<Input> inputs = MakeInputs(kQK_K);
  const int tested = ForEachTarget("Q8_K", [&](const char* target) {
    for (const Input& in : inputs) {
      CheckQ8_K(in, 0, target);
      CheckQ8_K(in, 3, target);
    }
  });
  EXPECT_GE(tested, 1);
}

// F16 / BF16 rounding of activations, bit for bit against the scalar conversions: random values of
// many magnitudes (half subnormals, overflow to Inf), exact halfway cases, signed zeros, Inf, NaNs.
TEST(RoundActs, F16AndBF16MatchScalarOnEveryTarget) {
  std::mt19937 rng(3);
  std::vector<float> x;
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  std::uniform_int_distribution<int> expo(-30, 20), sign(0, 1);
  for (int i = 0; i < 4000; ++i) x.push_back((sign(rng) ? -1.0f : 1.0f) * std::ldexp(mant(rng), expo(rng)));
  for (uint32_t bits : {0x3F801000u, 0x3F803000u, 0x3F808000u, 0x3F818000u, 0x477FF000u, 0x477FEFFFu, 0x33000000u,
                        0x7F800000u, 0xFF800000u, 0x7FC00001u, 0xFF812345u, 0x80000000u, 0x00000001u, 0x7F7FFFFFu}) {
    x.push_back(std::bit_cast<float>(bits));  // ties for both formats, the F16 overflow edge, specials
  }
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> want_h(x.size()), want_b(x.size()), got(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    want_h[i] = FP16ToFP32(FP32ToFP16(x[i]));
    want_b[i] = BF16ToFP32(FP32ToBF16(x[i]));
  }
  const int tested = ForEachTarget("F16/BF16", [&](const char* target) {
    for (int64_t offset : {0, 3}) {
      RoundActsF16(x.data() + offset, n - offset, got.data());
      ASSERT_EQ(std::memcmp(got.data(), want_h.data() + offset, (n - offset) * sizeof(float)), 0) << "F16 " << target;
      RoundActsBF16(x.data() + offset, n - offset, got.data());
      ASSERT_EQ(std::memcmp(got.data(), want_b.data() + offset, (n - offset) * sizeof(float)), 0) << "BF16 " << target;
    }
  });
  EXPECT_GE(tested, 1);
}

// The tie cases really are ties: the reference rounds them away from zero (so a ties-to-even
// implementation would fail the comparisons above).
TEST(QuantizeActs, TieInputsExerciseHalfAwayRounding) {
  std::mt19937 rng(1);
  std::vector<float> x(kQK8_0);
  FillTies(x.data(), kQK8_0, 0, rng);
  BlockQ8_0 b;
  QuantizeRowQ8_0_ref(x.data(), &b, kQK8_0);
  EXPECT_EQ(FP16ToFP32(b.d), 1.0f);
  EXPECT_EQ(b.qs[1], 1);     // 0.5
  EXPECT_EQ(b.qs[2], -1);    // -0.5
  EXPECT_EQ(b.qs[3], 127);   // 126.5
  EXPECT_EQ(b.qs[4], -127);  // -126.5
  EXPECT_EQ(b.qs[5], 2);     // 1.5
  EXPECT_EQ(b.qs[6], -3);    // -2.5
}

}  // namespace
}  // namespace flotilla
