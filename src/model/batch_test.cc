// Batch: several sequences in one forward pass give each one the outputs it gets alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/context.h"
#include "model/test_model.h"

namespace flotilla {
namespace {

// A stories260k-shaped model whose matrices are `dtype` (n_ff rounded up to whole Q8_0 blocks).
std::string ModelPath(DType dtype, Arch arch) {
  namespace fs = std::filesystem;
  if (dtype == DType::kF32 && arch == Arch::kLlama) return testutil::TinyModelPath();
  fs::path path = fs::temp_directory_path() / ("flotilla_batch_test_" + std::to_string(::getpid())) /
                  (std::string(ArchName(arch)) + "_" + std::string(DTypeName(dtype)) + ".gguf");
  if (!fs::exists(path)) {
    fs::create_directories(path.parent_path());
    StatusOr<ModelConfig> config = GetPreset("stories260k", arch);
    CHECK(config.ok());
    config->n_ff = 192;
    StatusOr<Vocab> vocab = TrainSpmVocab(testutil::kTinyModelText, {.vocab_size = config->n_vocab});
    CHECK(vocab.ok());
    CHECK(WriteRandomModel(*config, *vocab, {.dtype = dtype, .init_std = 0.1f}, path.string()).ok());
  }
  return path.string();
}

struct Case {
  DType weights;
  DType kv;
  Arch arch;
  float tolerance;  // relative to max(1, |logit|)
};

class BatchTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<Model>> m = Model::Load(ModelPath(GetParam().weights, GetParam().arch));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(*m);
  }
  std::unique_ptr<Context> NewContext() {
    StatusOr<std::unique_ptr<Context>> c = Context::Create(*model_, pool_, {.n_ctx = 64, .kv_type = GetParam().kv});
    CHECK(c.ok());
    return std::move(*c);
  }
  // A deterministic token sequence of `n` ids, different per `seed`.
  std::vector<int32_t> Tokens(int n, int seed) const {
    std::vector<int32_t> t;
    for (int i = 0; i < n; ++i) t.push_back((seed * 131 + i * 37 + i * i * 7) % model_->config().n_vocab);
    return t;
  }
  // Logits after every token of `tokens`, evaluated alone in one context: [n, n_vocab].
  std::vector<float> Alone(const std::vector<int32_t>& tokens) {
    auto ctx = NewContext();
    StatusOr<std::span<const float>> l = ctx->Eval(tokens, /*all_logits=*/true);
    CHECK(l.ok());
    return std::vector<float>(l->begin(), l->end());
  }
  void ExpectRowsNear(std::span<const float> got, const std::vector<float>& ref, int first_row, const char* what) {
    const int64_t v = model_->config().n_vocab;
    ASSERT_EQ(got.size() % v, 0u);
    float worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const float r = ref[static_cast<size_t>(first_row * v) + i];
      worst = std::max(worst, std::abs(got[i] - r) / std::max(1.0f, std::abs(r)));
    }
    EXPECT_LE(worst, GetParam().tolerance) << what << " from row " << first_row;
  }

  ThreadPool pool_{2};
  std::unique_ptr<Model> model_;
};

// Three sequences: A and B prefill together (one all-logits, one last-logits), then decode side by
// side; C joins with its prompt while A and B decode; A finishes and leaves; B and C go on.
TEST_P(BatchTest, SequencesTogetherMatchEachAlone) {
  const std::vector<int32_t> a = Tokens(12, 1), b = Tokens(20, 2), c = Tokens(15, 3);
  const std::vector<float> ra = Alone(a), rb = Alone(b), rc = Alone(c);
  auto ca = NewContext(), cb = NewContext(), cc = NewContext();
  Batch batch(*model_, pool_);
  std::span<const int32_t> sa(a), sb(b), sc(c);

  batch.Add(*ca, sa.subspan(0, 8), EvalOutput::kAllLogits);
  batch.Add(*cb, sb.subspan(0, 10));
  ASSERT_TRUE(batch.Eval().ok());
  ExpectRowsNear(batch.output(0), ra, 0, "A prefill");
  ExpectRowsNear(batch.output(1), rb, 9, "B prefill");
  int pa = 8, pb = 10, pc = 0;
  for (int step = 0; step < 10; ++step) {
    batch.Clear();
    int ia = -1, ib, ic = -1;
    if (pa < static_cast<int>(a.size())) ia = batch.Add(*ca, sa.subspan(pa, 1));
    ib = batch.Add(*cb, sb.subspan(pb, 1));
    if (step == 2) ic = batch.Add(*cc, sc.subspan(0, 6), EvalOutput::kAllLogits);  // C joins
    if (step > 2 && pc < static_cast<int>(c.size())) ic = batch.Add(*cc, sc.subspan(pc, 1));
    ASSERT_TRUE(batch.Eval().ok()) << "step " << step;
    if (ia >= 0) ExpectRowsNear(batch.output(ia), ra, pa++, "A decode");
    ExpectRowsNear(batch.output(ib), rb, pb++, "B decode");
    if (ic >= 0) {
      ExpectRowsNear(batch.output(ic), rc, pc, "C");
      pc += step == 2 ? 6 : 1;
    }
  }
  EXPECT_EQ(ca->n_past(), 12);
  EXPECT_EQ(cb->n_past(), 20);
  EXPECT_EQ(cc->n_past(), 13);
  EXPECT_EQ(batch.n_passes(), 11);
  EXPECT_EQ(batch.n_rows_evaluated(), 18 + 4 + 10 + 6 + 7);
}

// A context reused for a new sequence after Truncate (a slot taking a new job) joins a batch again.
TEST_P(BatchTest, TruncatedContextJoinsAgain) {
  const std::vector<int32_t> a = Tokens(10, 4), b = Tokens(9, 5);
  std::vector<int32_t> b2 = b;
  b2[5] = (b2[5] + 1) % model_->config().n_vocab;  // shares 5 tokens with b
  const std::vector<float> ra = Alone(a), rb2 = Alone(b2);
  auto ca = NewContext(), cb = NewContext();
  ASSERT_TRUE(cb->Eval(b).ok());
  cb->Truncate(5);
  Batch batch(*model_, pool_);
  batch.Add(*ca, std::span<const int32_t>(a), EvalOutput::kAllLogits);
  batch.Add(*cb, std::span<const int32_t>(b2).subspan(5), EvalOutput::kAllLogits);
  ASSERT_TRUE(batch.Eval().ok());
  ExpectRowsNear(batch.output(0), ra, 0, "A");
  ExpectRowsNear(batch.output(1), rb2, 5, "B after truncate");
}

TEST_P(BatchTest, HiddenStatesFeedTheOutputHead) {
  const std::vector<int32_t> a = Tokens(7, 6);
  const std::vector<float> ra = Alone(a);
  auto ctx = NewContext();
  StatusOr<std::span<const float>> h = ctx->EvalHidden(a);
  ASSERT_TRUE(h.ok());
  const int64_t d = model_->config().n_embd, v = model_->config().n_vocab;
  ASSERT_EQ(h->size(), static_cast<size_t>(7 * d));
  std::vector<float> logits(static_cast<size_t>(7 * v));
  MatMul(pool_, model_->weights().output, h->data(), 7, logits.data());
  ExpectRowsNear(logits, ra, 0, "head(hidden)");
  // The same hidden rows from a batch pass beside another sequence.
  auto c1 = NewContext(), c2 = NewContext();
  Batch batch(*model_, pool_);
  const std::vector<int32_t> other = Tokens(4, 7);
  batch.Add(*c1, std::span<const int32_t>(other));
  batch.Add(*c2, std::span<const int32_t>(a), EvalOutput::kHidden);
  ASSERT_TRUE(batch.Eval().ok());
  std::span<const float> bh = batch.output(1);
  ASSERT_EQ(bh.size(), h->size());
  for (size_t i = 0; i < bh.size(); ++i) ASSERT_NEAR(bh[i], (*h)[i], 1e-4f * std::max(1.0f, std::abs((*h)[i])));
}

TEST_P(BatchTest, InvalidEntryEvaluatesNothing) {
  auto ca = NewContext(), cb = NewContext();
  const std::vector<int32_t> a = Tokens(4, 8), big = Tokens(70, 9), bad = {1, -3};
  Batch batch(*model_, pool_);
  batch.Add(*ca, std::span<const int32_t>(a));
  batch.Add(*cb, std::span<const int32_t>(big));
  EXPECT_EQ(batch.Eval().code(), StatusCode::kOutOfRange);
  batch.Clear();
  batch.Add(*ca, std::span<const int32_t>(a));
  batch.Add(*ca, std::span<const int32_t>(a));
  EXPECT_EQ(batch.Eval().code(), StatusCode::kInvalidArgument);
  batch.Clear();
  batch.Add(*cb, std::span<const int32_t>(bad));
  EXPECT_EQ(batch.Eval().code(), StatusCode::kInvalidArgument);
  batch.Clear();
  EXPECT_EQ(batch.Eval().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ca->n_past(), 0);
  EXPECT_EQ(cb->n_past(), 0);
  EXPECT_EQ(batch.n_passes(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Models, BatchTest,
    ::testing::Values(Case{DType::kF32, DType::kF32, Arch::kLlama, 1e-5f},
                      Case{DType::kQ8_0, DType::kF32, Arch::kLlama, 1e-5f},
                      Case{DType::kQ4_0, DType::kF32, Arch::kQwen2, 1e-5f},
                      Case{DType::kF32, DType::kF16, Arch::kLlama, 1e-5f}),
    [](const ::testing::TestParamInfo<Case>& info) {
      return std::string(ArchName(info.param.arch)) + "_" + std::string(DTypeName(info.param.weights)) + "_kv_" +
             std::string(DTypeName(info.param.kv));
    });

}  // namespace
}  // namespace flotilla
