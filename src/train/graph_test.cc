// The whole training graph: gradients of a tiny model against finite differences, and the forward
// loss against the inference forward pass (src/model Context with an F32 KV cache) on the same GGUF.
#include "train/graph.h"

#include <cmath>

#include <gtest/gtest.h>

#include "model/context.h"
#include "model/test_model.h"
#include "train/grad_check.h"

namespace flotilla::train {
namespace {

ModelConfig TinyConfig(Arch arch, bool tied) {
  ModelConfig c;
  c.arch = arch;
  c.n_vocab = 37, c.n_ctx_train = 16, c.n_embd = 16, c.n_layer = 2, c.n_ff = 24;
  c.n_head = 4, c.n_head_kv = 2, c.tied_output = tied;
  return c;
}

// Random params large enough that every path carries gradient: matrices ~ N(0, 0.3^2), norm
// weights around 1, biases around 0.
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

struct GraphCase {
  Arch arch;
  bool tied;
};

class GraphGradTest : public ::testing::TestWithParam<GraphCase> {};

TEST_P(GraphGradTest, WholeModelMatchesFiniteDifferences) {
  const ModelConfig c = TinyConfig(GetParam().arch, GetParam().tied);
  ModelParams p = TinyParams(c);
  ThreadPool pool(2);
  const int64_t B = 2, T = 6;
  TrainGraph graph(c, B, T, pool, {});
  std::vector<int32_t> tokens(B * T), targets(B * T);
  for (int64_t i = 0; i < B * T; ++i) tokens[i] = static_cast<int32_t>((i * 7 + 3) % c.n_vocab);
  for (int64_t i = 0; i < B * T; ++i) targets[i] = i % 5 == 2 ? -1 : static_cast<int32_t>((i * 11 + 1) % c.n_vocab);
  ModelParams grads = ModelParams::ZerosLike(p);
  const LossSum first = graph.ForwardBackward(p, tokens.data(), targets.data(), 1.0f, grads);
  auto loss = [&] { return graph.Forward(p, tokens.data(), targets.data()).sum; };
  EXPECT_NEAR(first.sum, loss(), 1e-9 * first.sum);
  EXPECT_EQ(first.count, B * T - 2);
  std::vector<ParamTensor> pt = p.Tensors(), gt = grads.Tensors();
  double worst = 0.0;
  for (size_t i = 0; i < pt.size(); ++i) {
    worst = std::max(worst, testutil::CheckGradient(pt[i].name, pt[i].data, pt[i].size, gt[i].data, loss,
                                                    {.eps = 2e-3, .atol = 2e-3, .rtol = 1e-2}, 12, i + 1));
  }
  std::printf("worst relative gradient error: %.2e\n", worst);
}

// A head of one's own: loss = <hidden, r>, so d(loss)/d(hidden) = r, and BackwardHidden must give
// the body's gradients of that loss.
TEST_P(GraphGradTest, HiddenStatesBackwardMatchesFiniteDifferences) {
  const ModelConfig c = TinyConfig(GetParam().arch, GetParam().tied);
  ModelParams p = TinyParams(c);
  ThreadPool pool(2);
  const int64_t B = 2, T = 5;
  TrainGraph graph(c, B, T, pool, {});
  std::vector<int32_t> tokens(B * T);
  for (int64_t i = 0; i < B * T; ++i) tokens[i] = static_cast<int32_t>((i * 5 + 2) % c.n_vocab);
  const std::vector<float> r = testutil::RandomVector(B * T * c.n_embd, 77);
  auto loss = [&] {
    const float* h = graph.ForwardHidden(p, tokens.data());
    return testutil::Project(std::vector<float>(h, h + r.size()), r);
  };
  loss();
  ModelParams grads = ModelParams::ZerosLike(p);
  graph.BackwardHidden(p, tokens.data(), r.data(), grads);
  std::vector<ParamTensor> pt = p.Tensors(), gt = grads.Tensors();
  for (size_t i = 0; i < pt.size(); ++i) {
    if (pt[i].name == "output.weight") continue;  // not part of the body
    testutil::CheckGradient(pt[i].name, pt[i].data, pt[i].size, gt[i].data, loss,
                            {.eps = 2e-3, .atol = 2e-3, .rtol = 1e-2}, 8, i + 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, GraphGradTest,
                         ::testing::Values(GraphCase{Arch::kLlama, false}, GraphCase{Arch::kLlama, true},
                                           GraphCase{Arch::kQwen2, false}, GraphCase{Arch::kQwen2, true}));

// Mean cross-entropy of `tokens` (each predicting the next) by the inference forward pass.
double InferenceLoss(const Model& model, ThreadPool& pool, const std::vector<int32_t>& tokens) {
  auto ctx = Context::Create(model, pool, {.n_ctx = 64, .kv_type = DType::kF32});
  CHECK(ctx.ok());
  auto logits = (*ctx)->Eval(std::span<const int32_t>(tokens.data(), tokens.size() - 1), /*all_logits=*/true);
  CHECK(logits.ok());
  const int64_t nv = model.config().n_vocab;
  double sum = 0.0;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    const float* z = logits->data() + i * nv;
    double max = z[0], s = 0.0;
    for (int64_t j = 0; j < nv; ++j) max = std::max<double>(max, z[j]);
    for (int64_t j = 0; j < nv; ++j) s += std::exp(z[j] - max);
    sum += std::log(s) + max - z[tokens[i + 1]];
  }
  return sum / static_cast<double>(tokens.size() - 1);
}

class GraphInferenceTest : public ::testing::TestWithParam<Arch> {};

TEST_P(GraphInferenceTest, ForwardLossMatchesInference) {
  auto model = Model::Load(flotilla::testutil::TinyModelPath(GetParam()));
  ASSERT_TRUE(model.ok()) << model.status().message();
  ThreadPool pool(2);
  auto params = LoadParams((*model)->file());
  ASSERT_TRUE(params.ok()) << params.status().message();
  const int64_t B = 2, T = 24;
  std::vector<int32_t> tokens(B * T), targets(B * T);
  double want = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int32_t> seq(T + 1);
    for (int64_t t = 0; t <= T; ++t) seq[t] = static_cast<int32_t>((t * 13 + b * 101 + 5) % (*model)->config().n_vocab);
    for (int64_t t = 0; t < T; ++t) tokens[b * T + t] = seq[t], targets[b * T + t] = seq[t + 1];
    want += InferenceLoss(**model, pool, seq) / B;
  }
  TrainGraph graph(params->config, B, T, pool, params->rope_freqs);
  const LossSum got = graph.Forward(*params, tokens.data(), targets.data());
  EXPECT_EQ(got.count, B * T);
  EXPECT_NEAR(got.mean(), want, 1e-4 * want) << "inference " << want << " training graph " << got.mean();
}

INSTANTIATE_TEST_SUITE_P(Archs, GraphInferenceTest, ::testing::Values(Arch::kLlama, Arch::kQwen2));

}  // namespace
}  // namespace flotilla::train
