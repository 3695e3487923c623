#include "model/generate.h"

#include <climits>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "model/test_model.h"

namespace flotilla {
namespace {

class GenerateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<Model>> m = Model::Load(testutil::TinyModelPath());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(*m);
    prompt_ = model_->tokenizer().Encode("the boat", true, false);
  }

  std::unique_ptr<Context> NewContext(int32_t n_ctx = 128) {
    StatusOr<std::unique_ptr<Context>> c = Context::Create(*model_, pool_, {.n_ctx = n_ctx});
    CHECK(c.ok());
    return std::move(*c);
  }

  GenerateResult Run(const GenerateOptions& options, SamplerOptions sampling = {.temperature = 0.0f},
                     std::string* streamed = nullptr, int32_t n_ctx = 128) {
    auto ctx = NewContext(n_ctx);
    StatusOr<Sampler> sampler = Sampler::Create(sampling);
    CHECK(sampler.ok());
    StatusOr<GenerateResult> r = Generate(*ctx, *sampler, prompt_, options, [&](std::string_view piece) {
      if (streamed) *streamed += piece;
    });
    CHECK(r.ok());
    return std::move(*r);
  }

  ThreadPool pool_{2};
  std::unique_ptr<Model> model_;
  std::vector<int32_t> prompt_;
};

TEST_F(GenerateTest, MaxTokensAndStreamingAgree) {
  std::string streamed;
  GenerateResult r = Run({.max_tokens = 20, .ignore_eos = true}, {.temperature = 0.0f}, &streamed);
  EXPECT_EQ(r.tokens.size(), 20u);
  EXPECT_EQ(r.finish, FinishReason::kLength);
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.text, model_->tokenizer().Decode(r.tokens, false).substr(0, r.text.size()));
}

TEST_F(GenerateTest, StopStringCutsTheTextBeforeIt) {
  GenerateResult full = Run({.max_tokens = 40, .ignore_eos = true});
  ASSERT_GT(full.text.size(), 10u);
  const std::string stop = full.text.substr(full.text.size() / 2, 3);
  std::string streamed;
  GenerateResult cut = Run({.max_tokens = 40, .stop = {stop}, .ignore_eos = true}, {.temperature = 0.0f}, &streamed);
  EXPECT_EQ(cut.finish, FinishReason::kStop);
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_EQ(streamed, cut.text);
}

TEST_F(GenerateTest, SameSeedSameTextAtTemperature) {
  SamplerOptions s{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 11};
  GenerateResult a = Run({.max_tokens = 30, .ignore_eos = true}, s);
  GenerateResult b = Run({.max_tokens = 30, .ignore_eos = true}, s);
  EXPECT_EQ(a.tokens, b.tokens);
  s.seed = 12;
  EXPECT_NE(Run({.max_tokens = 30, .ignore_eos = true}, s).tokens, a.tokens);
}

TEST_F(GenerateTest, StopsWhenTheContextIsFull) {
  GenerateResult r = Run({.ignore_eos = true}, {.temperature = 0.0f}, nullptr, /*n_ctx=*/16);
  EXPECT_EQ(r.finish, FinishReason::kContextFull);
  // Every position holds a token; the last generated token needs no position of its own.
  EXPECT_EQ(r.tokens.size() + prompt_.size(), 17u);
}

TEST_F(GenerateTest, CancelStopsBeforeTheFirstToken) {
  std::atomic<bool> cancel{true};
  GenerateResult r = Run({.max_tokens = 10, .cancel = &cancel});
  EXPECT_EQ(r.finish, FinishReason::kCancelled);
  EXPECT_TRUE(r.tokens.empty());
}

TEST_F(GenerateTest, PromptLongerThanTheContextIsAnError) {
  auto ctx = NewContext(8);
  StatusOr<Sampler> sampler = Sampler::Create({});
  ASSERT_TRUE(sampler.ok());
  std::vector<int32_t> long_prompt(8, 5);
  StatusOr<GenerateResult> r = Generate(*ctx, *sampler, long_prompt, {}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
}

TEST_F(GenerateTest, AContextTooLargeForMemoryIsAnError) {
  std::ifstream policy("/proc/sys/vm/overcommit_memory");
  int overcommit = 0;
  if (policy >> overcommit && overcommit == 1) GTEST_SKIP() << "the kernel maps any size (overcommit_memory = 1)";
  // 2^31 positions of every layer's K and V: hundreds of GB, more than memory and swap.
  StatusOr<std::unique_ptr<Context>> c = Context::Create(*model_, pool_, {.n_ctx = INT32_MAX});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(c.status().message().find("KV cache"), std::string::npos) << c.status().ToString();
}

TEST_F(GenerateTest, EvalRejectsIdsOutsideTheVocab) {
  auto ctx = NewContext();
  std::vector<int32_t> bad = {1, 99999};
  EXPECT_EQ(ctx->Eval(bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ctx->n_past(), 0);
}

TEST_F(GenerateTest, BatchedPrefillEqualsTokenByToken) {
  std::vector<int32_t> ids = model_->tokenizer().Encode("the boats know the way and the sea", true, false);
  auto batched = NewContext();
  StatusOr<std::span<const float>> all = batched->Eval(ids);
  ASSERT_TRUE(all.ok());
  std::vector<float> want(all->begin(), all->end());
  auto single = NewContext();
  std::span<const float> last;
  for (int32_t id : ids) last = *single->Eval(std::span<const int32_t>(&id, 1));
  ASSERT_EQ(last.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(last[i], want[i], 1e-4f);
}

TEST(ModelLoad, QwenShapeLoadsAndRuns) {
  StatusOr<std::unique_ptr<Model>> m = Model::Load(testutil::TinyModelPath(Arch::kQwen2));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->config().arch, Arch::kQwen2);
  EXPECT_FALSE((*m)->weights().layers[0].bq.empty());
}

}  // namespace
}  // namespace flotilla
