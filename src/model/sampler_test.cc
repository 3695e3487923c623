#include "model/sampler.h"

#include <cmath>
#include <map>
#include <vector>

#include <gtest/gtest.h>

namespace flotilla {
namespace {

Sampler Make(SamplerOptions o) {
  StatusOr<Sampler> s = Sampler::Create(o);
  CHECK(s.ok());
  return std::move(*s);
}

TEST(Sampler, GreedyTakesTheLargestLogitAndTheLowestIdOnTies) {
  Sampler s = Make({.temperature = 0.0f});
  EXPECT_EQ(s.Sample(std::vector<float>{0.1f, 3.0f, -2.0f, 2.9f}), 1);
  EXPECT_EQ(s.Sample(std::vector<float>{1.0f, 5.0f, 5.0f}), 1);
}

TEST(Sampler, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[i] = static_cast<float>(i % 7) * 0.3f;
  auto draws = [&](uint64_t seed) {
    Sampler s = Make({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.Sample(logits));
    return out;
  };
  EXPECT_EQ(draws(7), draws(7));
  EXPECT_NE(draws(7), draws(8));
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  Sampler s = Make({.temperature = 5.0f, .top_k = 1, .seed = 3});
  for (int i = 0; i < 20; ++i) EXPECT_EQ(s.Sample(std::vector<float>{0.0f, 0.5f, 0.4f}), 1);
}

TEST(Sampler, MinPAndTopPDropUnlikelyTokens) {
  // p ~ [0.64, 0.24, 0.09, 0.03]: min_p 0.2 keeps ids 0 and 1; top_p 0.7 keeps ids 0 and 1.
  const std::vector<float> logits = {3.0f, 2.0f, 1.0f, -0.1f};
  for (SamplerOptions o : {SamplerOptions{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.2f},
                           SamplerOptions{.temperature = 1.0f, .top_k = 0, .top_p = 0.7f, .min_p = 0.0f}}) {
    Sampler s = Make(o);
    std::map<int32_t, int> seen;
    for (int i = 0; i < 2000; ++i) seen[s.Sample(logits)]++;
    EXPECT_EQ(seen.count(2) + seen.count(3), 0u);
    EXPECT_GT(seen[0], seen[1]);
    EXPECT_GT(seen[1], 0);
  }
}

TEST(Sampler, PenaltiesSteerAwayFromRepeatedTokens) {
  const std::vector<float> logits = {2.0f, 1.9f, -1.0f};
  Sampler repeat = Make({.temperature = 0.0f, .repeat_penalty = 1.5f});
  repeat.Accept(0);
  EXPECT_EQ(repeat.Sample(logits), 1);  // 2.0 / 1.5 < 1.9
  Sampler presence = Make({.temperature = 0.0f, .presence_penalty = 0.5f});
  presence.Accept(0);
  EXPECT_EQ(presence.Sample(logits), 1);
  Sampler frequency = Make({.temperature = 0.0f, .frequency_penalty = 0.05f});
  frequency.Accept(0);
  EXPECT_EQ(frequency.Sample(logits), 0);  // one occurrence: 1.95 > 1.9
  frequency.Accept(0);
  frequency.Accept(0);
  EXPECT_EQ(frequency.Sample(logits), 1);  // three: 1.85 < 1.9
}

TEST(Sampler, RepeatWindowForgetsOldTokens) {
  Sampler s = Make({.temperature = 0.0f, .repeat_penalty = 2.0f, .repeat_last_n = 2});
  s.Accept(0);
  s.Accept(2);
  s.Accept(2);  // token 0 has left the window of 2
  EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f, -1.0f}), 0);
}

TEST(Sampler, RejectsBadOptions) {
  EXPECT_FALSE(Sampler::Create({.top_p = 0.0f}).ok());
  EXPECT_FALSE(Sampler::Create({.min_p = 1.5f}).ok());
  EXPECT_FALSE(Sampler::Create({.repeat_penalty = 0.0f}).ok());
  EXPECT_FALSE(Sampler::Create({.repeat_last_n = -2}).ok());
  EXPECT_FALSE(Sampler::Create({.temperature = std::nanf("")}).ok());
}

}  // namespace
}  // namespace flotilla
