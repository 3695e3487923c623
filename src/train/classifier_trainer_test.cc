// The transformer classifier family: the head + pooling gradient and the whole body + head gradient
// against finite differences, the inference forward (classify/transformer.cc) against the training
// graph on the same weights, and a short training run on a separable toy task.
#include "train/classifier_trainer.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "classify/transformer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_trainer.h"
#include "train/graph.h"
#include "train/grad_check.h"

namespace flotilla::train {
namespace {

using classify::Pooling;

ModelConfig TinyConfig(Arch arch, int32_t n_vocab) {
  ModelConfig c;
  c.arch = arch;
  c.n_vocab = n_vocab, c.n_ctx_train = 32, c.n_embd = 16, c.n_layer = 2, c.n_ff = 24;
  c.n_head = 4, c.n_head_kv = 2, c.tied_output = true;
  return c;
}

// Matrices ~ N(0, 0.3^2), norm weights around 1, biases around 0: every path carries gradient.
ModelParams TinyParams(const ModelConfig& c, uint64_t seed) {
  ModelParams p = AllocateParams(c);
  for (ParamTensor& t : p.Tensors()) {
    const bool norm = t.name.find("norm") != std::string::npos;
    std::vector<float> v = testutil::RandomVector(t.size, ++seed, t.shape.size() == 1 ? 0.2f : 0.3f);
    for (int64_t i = 0; i < t.size; ++i) t.data[i] = v[i] + (norm ? 1.0f : 0.0f);
  }
  return p;
}

class HeadGradTest : public ::testing::TestWithParam<Pooling> {};

TEST_P(HeadGradTest, HeadAndPoolingMatchFiniteDifferences) {
  const int64_t B = 3, T = 5, d = 6;
  const int32_t n_labels = 4;
  const std::vector<int32_t> lens = {5, 2, 0}, ys = {1, 3, 0};  // the third is padding
  std::vector<float> hidden = testutil::RandomVector(B * T * d, 1);
  std::vector<float> w = testutil::RandomVector(n_labels * d, 2, 0.5f), b = testutil::RandomVector(n_labels, 3);
  std::vector<float> dw(w.size()), db(b.size()), dh(hidden.size());
  const float scale = 0.5f;
  auto loss = [&] {
    return scale * ClassifierHeadLoss(hidden.data(), B, T, d, lens.data(), ys.data(), GetParam(), w.data(),
                                      b.data(), n_labels, 0, nullptr, nullptr, nullptr);
  };
  const double l = ClassifierHeadLoss(hidden.data(), B, T, d, lens.data(), ys.data(), GetParam(), w.data(),
                                      b.data(), n_labels, scale, dw.data(), db.data(), dh.data());
  EXPECT_NEAR(scale * l, loss(), 1e-9);
  const testutil::Tolerance tol{.eps = 1e-3, .atol = 1e-4, .rtol = 1e-3};
  testutil::CheckGradient("w", w.data(), w.size(), dw.data(), loss, tol, 1000);
  testutil::CheckGradient("b", b.data(), b.size(), db.data(), loss, tol, 1000);
  testutil::CheckGradient("hidden", hidden.data(), hidden.size(), dh.data(), loss, tol, 1000);
  // Padding rows and padding sequences get no gradient; last-token pooling uses only the last row.
  for (int64_t t = 0; t < T; ++t) {
    const bool used = t < 2 && (GetParam() == Pooling::kMean || t == 1);
    for (int64_t j = 0; j < d; ++j) {
      EXPECT_EQ(dh[((1 * T) + t) * d + j] != 0.0f, used) << "t " << t;
      EXPECT_EQ(dh[((2 * T) + t) * d + j], 0.0f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Poolings, HeadGradTest, ::testing::Values(Pooling::kMean, Pooling::kLast));

// The body and the head together, as the trainer runs them: ForwardHidden, the head's loss with
// dhidden, BackwardHidden; every parameter tensor checked at a few entries.
TEST(ClassifierGradTest, BodyAndHeadMatchFiniteDifferences) {
  for (Arch arch : {Arch::kLlama, Arch::kQwen2}) {
    const ModelConfig c = TinyConfig(arch, 29);
    ModelParams p = TinyParams(c, 100);
    ThreadPool pool(2);
    const int64_t B = 2, T = 6;
    const int32_t n_labels = 3;
    TrainGraph graph(c, B, T, pool, {});
    std::vector<int32_t> tokens(B * T, 0);
    for (int64_t i = 0; i < B * T; ++i) tokens[i] = static_cast<int32_t>((i * 7 + 3) % c.n_vocab);
    const std::vector<int32_t> lens = {6, 4}, ys = {2, 0};
    std::vector<float> w = testutil::RandomVector(n_labels * c.n_embd, 5, 0.5f), b(n_labels, 0.1f);
    std::vector<float> dw(w.size()), db(b.size()), dh(B * T * c.n_embd);
    auto loss = [&] {
      const float* h = graph.ForwardHidden(p, tokens.data());
      return ClassifierHeadLoss(h, B, T, c.n_embd, lens.data(), ys.data(), Pooling::kMean, w.data(), b.data(),
                                n_labels, 0, nullptr, nullptr, nullptr);
    };
    const float* h = graph.ForwardHidden(p, tokens.data());
    ClassifierHeadLoss(h, B, T, c.n_embd, lens.data(), ys.data(), Pooling::kMean, w.data(), b.data(), n_labels, 1.0f,
                       dw.data(), db.data(), dh.data());
    ModelParams grads = ModelParams::ZerosLike(p);
    graph.BackwardHidden(p, tokens.data(), dh.data(), grads);
    std::vector<ParamTensor> pt = p.Tensors(), gt = grads.Tensors();
    const testutil::Tolerance tol{.eps = 2e-3, .atol = 2e-3, .rtol = 1e-2};
    for (size_t i = 0; i < pt.size(); ++i) {
      testutil::CheckGradient(pt[i].name, pt[i].data, pt[i].size, gt[i].data, loss, tol, 6, i + 1);
    }
    testutil::CheckGradient("cls.weight", w.data(), w.size(), dw.data(), loss, tol, 12);
  }
}

Vocab SmallVocab() {
  std::string text;
  for (int i = 0; i < 20; ++i) text += "the cat sat on the mat; a dog ran in the park. ";
  StatusOr<Vocab> v = TrainSpmVocab(text, {.vocab_size = 300});
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return std::move(*v);
}

// classify/transformer.cc has its own forward pass (no KV cache, kernels of src/kernels); it must
// give the logits the training graph gives on the same weights.
TEST(TransformerClassifierTest, InferenceMatchesTrainingGraph) {
  const Vocab vocab = SmallVocab();
  ASSERT_TRUE(vocab.add_bos);
  StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::Create(vocab);
  ASSERT_TRUE(tok.ok());
  const std::vector<std::string> names = {"a", "b", "c"};
  for (Arch arch : {Arch::kLlama, Arch::kQwen2}) {
    for (Pooling pooling : {Pooling::kMean, Pooling::kLast}) {
      const ModelConfig c = TinyConfig(arch, vocab.size());
      ModelParams p = TinyParams(c, 7);
      const std::vector<float> w = testutil::RandomVector(3 * c.n_embd, 9), b = testutil::RandomVector(3, 10);
      StatusOr<std::unique_ptr<classify::Classifier>> model =
          MakeTransformerClassifier(p, vocab, w, b, names, pooling, /*max_tokens=*/12);
      ASSERT_TRUE(model.ok()) << model.status().ToString();
      ThreadPool pool(1);
      for (std::string_view text : {"the cat", "a dog ran in the park and the cat sat on the mat", ""}) {
        const std::vector<int32_t> tokens = classify::ClassifierTokens(**tok, text, 12);
        ASSERT_LE(tokens.size(), 12u);
        ASSERT_EQ(tokens[0], vocab.bos);
        const int64_t T = static_cast<int64_t>(tokens.size());
        TrainGraph graph(c, 1, T, pool, {});
        const float* h = graph.ForwardHidden(p, tokens.data());
        const int32_t len = static_cast<int32_t>(T), y = 0;
        std::vector<float> want(3), got(3);
        ClassifierHeadLoss(h, 1, T, c.n_embd, &len, &y, pooling, w.data(), b.data(), 3, 0, nullptr, nullptr,
                           nullptr, want.data());
        (*model)->Logits(text, got);
        for (int k = 0; k < 3; ++k) EXPECT_NEAR(got[k], want[k], 1e-4 + 1e-4 * std::abs(want[k])) << text;
      }
    }
  }
}

// A separable toy task: the class is which animal the sentence is about. A from-scratch model learns
// it in a few epochs; the classifier it returns agrees with its labels.
TEST(TransformerClassifierTest, LearnsToyTask) {
  const std::vector<std::string> animals = {"cat", "dog", "bird"};
  const std::vector<std::string> frames = {"the {} is here", "i saw a {} today", "where is my {}",
                                           "a {} sat on the mat", "look at that {} run", "my {} is hungry"};
  std::vector<std::string> storage;
  std::vector<int32_t> labels;
  for (int rep = 0; rep < 4; ++rep) {
    for (size_t a = 0; a < animals.size(); ++a) {
      for (const std::string& f : frames) {
        std::string s = f;
        s.replace(s.find("{}"), 2, animals[a]);
        storage.push_back(rep % 2 ? s : "well " + s);
        labels.push_back(static_cast<int32_t>(a));
      }
    }
  }
  std::vector<std::string_view> texts(storage.begin(), storage.end());
  TransformerClassifierOptions o;
  o.n_embd = 32, o.n_layer = 1, o.n_head = 2, o.n_ff = 64, o.vocab_size = 300, o.epochs = 30, o.batch = 8;
  o.lr = 3e-3f, o.n_threads = 1;
  StatusOr<std::unique_ptr<classify::Classifier>> model = TrainTransformerClassifier(texts, labels, animals, o, 1);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->architecture(), classify::kTransformerArchitecture);
  int correct = 0;
  for (size_t i = 0; i < texts.size(); ++i) correct += (*model)->Predict(texts[i]).label == labels[i];
  EXPECT_GE(correct, static_cast<int>(texts.size()) * 9 / 10);
  for (const char* dog : {"the dog is hungry", "well where is the dog", "a dog is here"}) {
    EXPECT_EQ((*model)->Predict(dog).label, 1) << dog;
  }

  TransformerClassifierOptions bad = o;
  bad.n_head = 3;  // 32 is not a multiple of 3
  EXPECT_FALSE(TrainTransformerClassifier(texts, labels, animals, bad, 1).ok());
  bad = o;
  bad.backbone = "/nonexistent/backbone.gguf";
  StatusOr<std::unique_ptr<classify::Classifier>> missing = TrainTransformerClassifier(texts, labels, animals, bad, 1);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/backbone.gguf"), std::string::npos);
}

}  // namespace
}  // namespace flotilla::train
