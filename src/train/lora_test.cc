// LoRA in the training engine: adapter gradients of a whole tiny model against finite differences
// (both architectures, every target module), B = 0 starts at the base model, the merged base equals
// the adapted forward pass, adapter files round-trip and bad adapters/targets/ranks are refused.
#include "train/lora.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "train/grad_check.h"
#include "train/graph.h"

namespace flotilla::train {
namespace {

ModelConfig TinyConfig(Arch arch) {
  ModelConfig c;
  c.arch = arch;
  c.n_vocab = 37, c.n_ctx_train = 16, c.n_embd = 16, c.n_layer = 2, c.n_ff = 24;
  c.n_head = 4, c.n_head_kv = 2, c.tied_output = false;
  return c;
}

ModelParams TinyParams(const ModelConfig& c) {
  ModelParams p = AllocateParams(c);
  uint64_t seed = 10;
  for (ParamTensor& t : p.Tensors()) {
    const bool norm = t.name.find("norm") != std::string::npos;
    std::vector<float> v = testutil::RandomVector(t.size, ++seed, t.shape.size() == 1 ? 0.2f : 0.3f);
    for (int64_t i = 0; i < t.size; ++i) t.data[i] = v[i] + (norm ? 1.0f : 0.0f);
  }
  return p;
}

const std::vector<LoraTarget> kAllTargets = {LoraTarget::kAttnQ,    LoraTarget::kAttnK,  LoraTarget::kAttnV,
                                             LoraTarget::kAttnOutput, LoraTarget::kFfnGate, LoraTarget::kFfnUp,
                                             LoraTarget::kFfnDown};

// Adapters on every module with B random too (B = 0 would make A's gradient zero).
LoraParams RandomLora(const ModelConfig& c, int32_t rank) {
  StatusOr<LoraParams> lora = InitLora(c, {.rank = rank, .alpha = 3.0f, .targets = kAllTargets}, 5);
  CHECK(lora.ok());
  uint64_t seed = 100;
  for (ParamTensor& t : lora->Tensors()) {
    if (t.name.ends_with(".lora_b")) {
      std::vector<float> v = testutil::RandomVector(t.size, ++seed, 0.3f);
      std::copy(v.begin(), v.end(), t.data);
    }
  }
  return *lora;
}

struct Tokens {
  std::vector<int32_t> tokens, targets;
};
Tokens MakeTokens(const ModelConfig& c, int64_t n) {
  Tokens t;
  for (int64_t i = 0; i < n; ++i) t.tokens.push_back(static_cast<int32_t>((i * 7 + 3) % c.n_vocab));
  for (int64_t i = 0; i < n; ++i) t.targets.push_back(i % 5 == 2 ? -1 : static_cast<int32_t>((i * 11 + 1) % c.n_vocab));
  return t;
}

class LoraGradTest : public ::testing::TestWithParam<Arch> {};

TEST_P(LoraGradTest, AdapterGradientsMatchFiniteDifferences) {
  const ModelConfig c = TinyConfig(GetParam());
  ModelParams p = TinyParams(c);
  const ModelParams base_copy = p;
  LoraParams lora = RandomLora(c, 3);
  ThreadPool pool(2);
  const int64_t B = 2, T = 6;
  TrainGraph graph(c, B, T, pool, {});
  const Tokens t = MakeTokens(c, B * T);
  LoraParams grads = LoraParams::ZerosLike(lora);
  const LossSum first = graph.ForwardBackwardLora(p, lora, t.tokens.data(), t.targets.data(), 1.0f, grads);
  auto loss = [&] { return graph.Forward(p, lora, t.tokens.data(), t.targets.data()).sum; };
  EXPECT_NEAR(first.sum, loss(), 1e-9 * first.sum);
  std::vector<ParamTensor> lt = lora.Tensors(), gt = grads.Tensors();
  ASSERT_EQ(lt.size(), 2u * 7 * 2);
  double worst = 0.0;
  for (size_t i = 0; i < lt.size(); ++i) {
    worst = std::max(worst, testutil::CheckGradient(lt[i].name, lt[i].data, lt[i].size, gt[i].data, loss,
                                                    {.eps = 2e-3, .atol = 3e-3, .rtol = 1e-2}, 12, i + 1));
  }
  std::printf("worst relative adapter gradient error: %.2e\n", worst);
  // The base is frozen: untouched.
  EXPECT_EQ(p.layers[1].wq, base_copy.layers[1].wq);
}

TEST_P(LoraGradTest, HiddenStatesBackwardMatchesFiniteDifferences) {
  const ModelConfig c = TinyConfig(GetParam());
  ModelParams p = TinyParams(c);
  LoraParams lora = RandomLora(c, 2);
  ThreadPool pool(2);
  const int64_t B = 2, T = 5;
  TrainGraph graph(c, B, T, pool, {});
  const Tokens t = MakeTokens(c, B * T);
  const std::vector<float> r = testutil::RandomVector(B * T * c.n_embd, 77);
  auto loss = [&] {
    const float* h = graph.ForwardHidden(p, lora, t.tokens.data());
    return testutil::Project(std::vector<float>(h, h + r.size()), r);
  };
  loss();
  LoraParams grads = LoraParams::ZerosLike(lora);
  graph.BackwardHiddenLora(p, lora, t.tokens.data(), r.data(), grads);
  std::vector<ParamTensor> lt = lora.Tensors(), gt = grads.Tensors();
  for (size_t i = 0; i < lt.size(); ++i) {
    testutil::CheckGradient(lt[i].name, lt[i].data, lt[i].size, gt[i].data, loss,
                            {.eps = 2e-3, .atol = 3e-3, .rtol = 1e-2}, 6, i + 1);
  }
}

TEST_P(LoraGradTest, ZeroBIsTheBaseAndMergingEqualsTheAdaptedPass) {
  const ModelConfig c = TinyConfig(GetParam());
  ModelParams p = TinyParams(c);
  ThreadPool pool(2);
  TrainGraph graph(c, 2, 6, pool, {});
  const Tokens t = MakeTokens(c, 12);
  StatusOr<LoraParams> fresh = InitLora(c, {.rank = 4}, 1);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  const double base = graph.Forward(p, t.tokens.data(), t.targets.data()).sum;
  EXPECT_EQ(graph.Forward(p, *fresh, t.tokens.data(), t.targets.data()).sum, base);

  LoraParams lora = RandomLora(c, 3);
  const double adapted = graph.Forward(p, lora, t.tokens.data(), t.targets.data()).sum;
  EXPECT_GT(std::abs(adapted - base), 1e-3);
  MergeLora(lora, p);
  EXPECT_NEAR(graph.Forward(p, t.tokens.data(), t.targets.data()).sum, adapted, 1e-4 * std::abs(adapted));
}

INSTANTIATE_TEST_SUITE_P(Archs, LoraGradTest, ::testing::Values(Arch::kLlama, Arch::kQwen2));

TEST(LoraTest, OptimizerUpdatesOnlyTheAdaptersAndLowersTheLoss) {
  const ModelConfig c = TinyConfig(Arch::kLlama);
  ModelParams p = TinyParams(c);
  StatusOr<LoraParams> lora = InitLora(c, {.rank = 2, .targets = {LoraTarget::kAttnQ, LoraTarget::kFfnDown}}, 3);
  ASSERT_TRUE(lora.ok());
  EXPECT_EQ(lora->NumParams(), 2 * (2 * (16 + 16) + 2 * (24 + 16)));
  ThreadPool pool(1);
  TrainGraph graph(c, 2, 6, pool, {});
  const Tokens t = MakeTokens(c, 12);
  LoraAdamW opt(*lora, {.weight_decay = 0.0f});
  LoraParams grads = LoraParams::ZerosLike(*lora);
  const double before = graph.Forward(p, *lora, t.tokens.data(), t.targets.data()).mean();
  for (int step = 0; step < 30; ++step) {
    grads.SetZero();
    graph.ForwardBackwardLora(p, *lora, t.tokens.data(), t.targets.data(), 1.0f / 10, grads);
    opt.Step(*lora, grads, 1e-2f);
  }
  EXPECT_EQ(opt.t(), 30);
  EXPECT_LT(graph.Forward(p, *lora, t.tokens.data(), t.targets.data()).mean(), before - 0.1);
}

TEST(LoraTest, TargetsParseAndBadOnesAreRefused) {
  StatusOr<std::vector<LoraTarget>> t = ParseLoraTargets("attn_v,attn_q");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(LoraTargetsString(*t), "attn_q,attn_v");
  EXPECT_EQ(LoraTargetsString(*ParseLoraTargets("ffn_down,ffn_up,ffn_gate,attn_output")),
            "attn_output,ffn_gate,ffn_up,ffn_down");
  StatusOr<std::vector<LoraTarget>> bad = ParseLoraTargets("attn_q,wq");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown LoRA target 'wq'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("ffn_down"), std::string::npos);
  EXPECT_FALSE(ParseLoraTargets("attn_q,attn_q").ok());
  EXPECT_FALSE(ParseLoraTargets("").ok());
  EXPECT_FALSE(ParseLoraTargets(",").ok());
}

TEST(LoraTest, RankMustFitTheTargets) {
  const ModelConfig c = TinyConfig(Arch::kLlama);  // n_embd 16, n_embd_kv 8
  EXPECT_FALSE(InitLora(c, {.rank = 0}, 1).ok());
  EXPECT_FALSE(InitLora(c, {.rank = -3}, 1).ok());
  EXPECT_TRUE(InitLora(c, {.rank = 16, .targets = {LoraTarget::kAttnQ}}, 1).ok());
  StatusOr<LoraParams> big = InitLora(c, {.rank = 9, .targets = {LoraTarget::kAttnK}}, 1);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("at most 8"), std::string::npos) << big.status().message();
  EXPECT_FALSE(InitLora(c, {.rank = 2, .targets = {}}, 1).ok());
}

class LoraFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("flotilla_lora_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string P(const std::string& n) const { return (dir_ / n).string(); }
  std::filesystem::path dir_;
};

TEST_F(LoraFileTest, AdapterRoundTripsInLlamaCppFormat) {
  const ModelConfig c = TinyConfig(Arch::kQwen2);
  LoraParams lora = RandomLora(c, 3);
  ASSERT_TRUE(SaveLoraAdapter(lora, P("a.gguf")).ok());
  StatusOr<gguf::File> f = gguf::File::Open(P("a.gguf"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f->GetString("general.type"), "adapter");
  EXPECT_EQ(*f->GetString("adapter.type"), "lora");
  EXPECT_EQ(*f->GetString("general.architecture"), "qwen2");
  EXPECT_EQ(f->Find("adapter.lora.alpha")->type(), gguf::ValueType::kFloat32);
  const gguf::TensorInfo* a = f->FindTensor("blk.1.attn_k.weight.lora_a");
  const gguf::TensorInfo* b = f->FindTensor("blk.1.attn_k.weight.lora_b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{16, 3}));  // [in, r]
  EXPECT_EQ(b->shape, (std::vector<int64_t>{3, 8}));   // [r, out]
  StatusOr<LoraParams> back = LoadLoraAdapter(*f, c);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->rank, 3);
  EXPECT_EQ(back->alpha, 3.0f);
  EXPECT_EQ(back->at(1, LoraTarget::kFfnDown).b, lora.at(1, LoraTarget::kFfnDown).b);

  // Another model: other architecture, other width, fewer layers.
  ModelConfig llama = c;
  llama.arch = Arch::kLlama;
  Status s = ValidateLoraAdapter(*f, llama);
  EXPECT_NE(s.message().find("architecture qwen2"), std::string::npos) << s.message();
  ModelConfig wide = c;
  wide.n_embd = 32;
  s = ValidateLoraAdapter(*f, wide);
  EXPECT_NE(s.message().find("shapes"), std::string::npos) << s.message();
  ModelConfig shallow = c;
  shallow.n_layer = 1;
  s = ValidateLoraAdapter(*f, shallow);
  EXPECT_NE(s.message().find("does not adapt a matrix of this model"), std::string::npos) << s.message();
}

TEST_F(LoraFileTest, CheckpointKeepsAdaptersAndMoments) {
  const ModelConfig c = TinyConfig(Arch::kLlama);
  LoraParams lora = RandomLora(c, 2);
  LoraAdamW opt(lora, {});
  LoraParams grads = LoraParams::ZerosLike(lora);
  for (ParamTensor& t : grads.Tensors()) std::fill(t.data, t.data + t.size, 0.5f);
  opt.Step(lora, grads, 1e-3f);
  ASSERT_TRUE(SaveLoraCheckpoint(lora, opt, {.step = 7, .seed = 9, .batch = 2, .seq = 6}, P("c.ckpt")).ok());
  StatusOr<gguf::File> f = gguf::File::Open(P("c.ckpt"));
  ASSERT_TRUE(f.ok());
  StatusOr<LoadedLoraCheckpoint> ck = LoadLoraCheckpoint(*f, c);
  ASSERT_TRUE(ck.ok()) << ck.status().ToString();
  EXPECT_EQ(ck->meta.step, 7);
  EXPECT_EQ(ck->meta.seed, 9u);
  EXPECT_EQ(ck->lora.at(0, LoraTarget::kAttnV).a, lora.at(0, LoraTarget::kAttnV).a);
  EXPECT_EQ(ck->m.at(1, LoraTarget::kFfnUp).b, opt.m().at(1, LoraTarget::kFfnUp).b);
  EXPECT_EQ(ck->v.at(1, LoraTarget::kAttnQ).a, opt.v().at(1, LoraTarget::kAttnQ).a);
  ModelConfig other = c;
  other.n_ff = 32;
  EXPECT_FALSE(LoadLoraCheckpoint(*f, other).ok());
}

}  // namespace
}  // namespace flotilla::train
