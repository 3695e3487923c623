#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/ops.h"

namespace flotilla {
namespace {

// One head of 8: x = [1, 0, 1, 0, ...] rotated at position 3.
std::vector<float> Rotated(RopeMode mode, const float* factors) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8};
  Rope(x.data(), 1, 8, 3, {.mode = mode, .n_rot = 8, .freq_base = 10000.0f, .freq_factors = factors});
  return x;
}

TEST(Rope, NormRotatesAdjacentPairsByPosTimesFrequency) {
  std::vector<float> x = Rotated(RopeMode::kNorm, nullptr);
  for (int i = 0; i < 4; ++i) {
    const double theta = 3.0 * std::pow(10000.0, -2.0 * i / 8);
    const double a = 2 * i + 1, b = 2 * i + 2;  // the original values
    EXPECT_NEAR(x[2 * i], a * std::cos(theta) - b * std::sin(theta), 1e-5);
    EXPECT_NEAR(x[2 * i + 1], a * std::sin(theta) + b * std::cos(theta), 1e-5);
  }
}

TEST(Rope, NeoxRotatesTheTwoHalves) {
  std::vector<float> x = Rotated(RopeMode::kNeox, nullptr);
  for (int i = 0; i < 4; ++i) {
    const double theta = 3.0 * std::pow(10000.0, -2.0 * i / 8);
    const double a = i + 1, b = i + 5;
    EXPECT_NEAR(x[i], a * std::cos(theta) - b * std::sin(theta), 1e-5);
    EXPECT_NEAR(x[i + 4], a * std::sin(theta) + b * std::cos(theta), 1e-5);
  }
}

TEST(Rope, FrequencyFactorsDivideTheAngle) {  // Llama 3 scaling (rope_freqs.weight)
  const float ones[4] = {1, 1, 1, 1};
  EXPECT_EQ(Rotated(RopeMode::kNorm, ones), Rotated(RopeMode::kNorm, nullptr));
  const float factors[4] = {1, 2, 4, 8};
  std::vector<float> x = Rotated(RopeMode::kNorm, factors);
  const double theta = 3.0 * std::pow(10000.0, -2.0 / 8) / 2;  // pair 1, factor 2
  EXPECT_NEAR(x[2], 3 * std::cos(theta) - 4 * std::sin(theta), 1e-5);
}

TEST(Rope, PositionZeroIsIdentity) {
  std::vector<float> x = {1, 2, 3, 4};
  Rope(x.data(), 2, 2, 0, {.n_rot = 2});
  EXPECT_EQ(x, (std::vector<float>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace flotilla
