// Logit distillation: the loss and its gradient against finite differences (on logits and through a
// whole tiny student), the teacher's logits against the inference pass, the tokenizer comparison;
// sequence-level pairs: prompt files, the resumable pairs file.
#include "train/distill.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "base/file_util.h"
#include "model/test_model.h"
#include "train/distill_pairs.h"
#include "train/grad_check.h"
#include "train/graph.h"

namespace flotilla::train {
namespace {

namespace fs = std::filesystem;

TEST(DistillRowsTest, GradientMatchesFiniteDifferences) {
  ThreadPool pool(2);
  const int64_t rows = 3, nv = 11;
  std::vector<float> zs = testutil::RandomVector(rows * nv, 1, 2.0f), zt = testutil::RandomVector(rows * nv, 2, 2.0f);
  const std::vector<int32_t> targets = {4, -1, 9};
  for (const DistillOptions o : {DistillOptions{2.0f, 0.5f}, DistillOptions{1.0f, 1.0f}, DistillOptions{3.0f, 0.0f}}) {
    std::vector<float> d(zs.size());
    const DistillSums s = DistillRows(pool, zs.data(), zt.data(), targets.data(), rows, nv, o, 0.5f, d.data());
    EXPECT_EQ(s.count, 2);
    for (int64_t j = 0; j < nv; ++j) EXPECT_EQ(d[nv + j], 0.0f);  // the uncounted row
    for (float& x : d) x *= 2.0f;                                 // undo the scale
    auto loss = [&] { return DistillRows(pool, zs.data(), zt.data(), targets.data(), rows, nv, o, 1, nullptr).loss; };
    testutil::CheckGradient("logits", zs.data(), rows * nv, d.data(), loss, {.eps = 1e-2, .atol = 1e-3, .rtol = 1e-2});
  }
}

TEST(DistillRowsTest, KlIsZeroAgainstItselfAndPositiveOtherwise) {
  ThreadPool pool(1);
  const int64_t nv = 7;
  std::vector<float> z = testutil::RandomVector(nv, 3), other = testutil::RandomVector(nv, 4);
  const int32_t target = 2;
  std::vector<float> d(nv);
  const DistillSums same = DistillRows(pool, z.data(), z.data(), &target, 1, nv, {2.0f, 1.0f}, 1.0f, d.data());
  EXPECT_NEAR(same.kl, 0.0, 1e-9);
  EXPECT_NEAR(same.loss, 0.0, 1e-9);
  for (float g : d) EXPECT_NEAR(g, 0.0f, 1e-7f);
  const DistillSums diff = DistillRows(pool, z.data(), other.data(), &target, 1, nv, {2.0f, 0.25f}, 1.0f, nullptr);
  EXPECT_GT(diff.kl, 0.0);
  EXPECT_NEAR(diff.loss, 0.25 * 4 * diff.kl + 0.75 * diff.ce, 1e-9);
}

ModelConfig TinyConfig(bool tied) {
  ModelConfig c;
  c.n_vocab = 23, c.n_ctx_train = 16, c.n_embd = 16, c.n_layer = 2, c.n_ff = 24;
  c.n_head = 4, c.n_head_kv = 2, c.tied_output = tied;
  return c;
}

ModelParams TinyParams(const ModelConfig& c) {
  ModelParams p = AllocateParams(c);
  uint64_t seed = 20;
  for (ParamTensor& t : p.Tensors()) {
    const bool norm = t.name.find("norm") != std::string::npos;
    std::vector<float> v = testutil::RandomVector(t.size, ++seed, t.shape.size() == 1 ? 0.2f : 0.3f);
    for (int64_t i = 0; i < t.size; ++i) t.data[i] = v[i] + (norm ? 1.0f : 0.0f);
  }
  return p;
}

class DistillGradTest : public ::testing::TestWithParam<bool> {};

// The student's whole gradient (body through BackwardHidden, head here) for a fixed teacher.
TEST_P(DistillGradTest, WholeStudentMatchesFiniteDifferences) {
  const ModelConfig c = TinyConfig(GetParam());
  ModelParams p = TinyParams(c);
  ThreadPool pool(2);
  const int64_t B = 2, T = 5, n = B * T;
  TrainGraph graph(c, B, T, pool, {});
  std::vector<int32_t> tokens(n), targets(n);
  for (int64_t i = 0; i < n; ++i) tokens[i] = static_cast<int32_t>((i * 7 + 3) % c.n_vocab);
  for (int64_t i = 0; i < n; ++i) targets[i] = i % 4 == 1 ? -1 : static_cast<int32_t>((i * 5 + 2) % c.n_vocab);
  const std::vector<float> teacher = testutil::RandomVector(n * c.n_vocab, 99, 1.5f);
  const DistillOptions o{2.0f, 0.6f};
  DistillScratch scratch;
  ModelParams grads = ModelParams::ZerosLike(p);
  const float* hidden = graph.ForwardHidden(p, tokens.data());
  const DistillSums first = DistillHead(pool, p, hidden, teacher.data(), targets.data(), n, o, 1.0f, &grads, scratch);
  graph.BackwardHidden(p, tokens.data(), scratch.dhidden.data(), grads);
  auto loss = [&] {
    DistillScratch s;
    const float* h = graph.ForwardHidden(p, tokens.data());
    return DistillHead(pool, p, h, teacher.data(), targets.data(), n, o, 1.0f, nullptr, s).loss;
  };
  EXPECT_NEAR(first.loss, loss(), 1e-9 * first.loss);
  EXPECT_EQ(first.count, n - 3);
  std::vector<ParamTensor> pt = p.Tensors(), gt = grads.Tensors();
  for (size_t i = 0; i < pt.size(); ++i) {
    testutil::CheckGradient(pt[i].name, pt[i].data, pt[i].size, gt[i].data, loss,
                            {.eps = 2e-3, .atol = 2e-3, .rtol = 1e-2}, 10, i + 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Tied, DistillGradTest, ::testing::Values(false, true));

TEST(LogitTeacherTest, LogitsEqualTheInferencePassRowByRow) {
  const std::string path = flotilla::testutil::TinyModelPath();
  ThreadPool pool(2);
  const int64_t B = 2, T = 9;
  auto teacher = LogitTeacher::Open(path, T, pool);
  ASSERT_TRUE(teacher.ok()) << teacher.status().message();
  const int64_t nv = (*teacher)->model().config().n_vocab;
  std::vector<int32_t> tokens(B * T);
  for (int64_t i = 0; i < B * T; ++i) tokens[i] = static_cast<int32_t>((i * 13 + 5) % nv);
  auto z = (*teacher)->Logits(tokens.data(), B, T);
  ASSERT_TRUE(z.ok());
  auto model = Model::Load(path);
  ASSERT_TRUE(model.ok());
  auto ctx = Context::Create(**model, pool, {.n_ctx = 32, .kv_type = DType::kF32});
  ASSERT_TRUE(ctx.ok());
  auto want = (*ctx)->Eval(std::span<const int32_t>(tokens.data() + T, T), true);  // the second row alone
  ASSERT_TRUE(want.ok());
  for (int64_t i = 0; i < T * nv; ++i) ASSERT_FLOAT_EQ((*z)[T * nv + i], (*want)[i]) << i;

  auto too_long = LogitTeacher::Open(path, (*teacher)->model().config().n_ctx_train + 1, pool);
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("longer than the teacher's context"), std::string::npos);
}

Vocab SmallVocab() {
  Vocab v;
  v.tokens = {"<unk>", "<s>", "</s>", "a", "b", "ab"};
  v.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl, TokenType::kNormal, TokenType::kNormal,
             TokenType::kNormal};
  v.scores = {0, 0, 0, -1, -2, -0.5f};
  v.unk = 0, v.bos = 1, v.eos = 2, v.add_bos = true;
  return v;
}

TEST(CheckSameTokenizerTest, NamesTheFirstDifference) {
  const Vocab a = SmallVocab();
  EXPECT_TRUE(CheckSameTokenizer(a, a).ok());
  auto expect = [&](const Vocab& b, const std::string& what) {
    const Status s = CheckSameTokenizer(a, b);
    ASSERT_FALSE(s.ok()) << what;
    EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("different tokenizers"), std::string::npos) << s.message();
  };
  Vocab b = a;
  b.tokens[4] = "c";
  expect(b, "token 4 is \"b\" in the teacher, \"c\" in the student");
  b = a, b.tokens.push_back("x"), b.types.push_back(TokenType::kNormal), b.scores.push_back(0);
  expect(b, "teacher vocab 6 tokens, student 7");
  b = a, b.scores[5] = -0.25f;
  expect(b, "token 5 \"ab\" has score");
  b = a, b.types[3] = TokenType::kUserDefined;
  expect(b, "token 3 \"a\" has type 1 in the teacher, 4 in the student");
  b = a, b.eos = 0;
  expect(b, "eos is 2 in the teacher, 0 in the student");
  b = a, b.kind = TokenizerKind::kBpe;
  expect(b, "student BPE");
  Vocab bpe = a;
  bpe.kind = TokenizerKind::kBpe, bpe.merges = {"a b"};
  b = bpe, b.merges = {"b a"};
  const Status s = CheckSameTokenizer(bpe, b);
  EXPECT_NE(s.message().find("merge 0 is \"a b\""), std::string::npos) << s.message();
}

class PairsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flotilla_distill_pairs_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream((dir_ / name).string(), std::ios::binary) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(PairsTest, LoadsTextAndJsonlPrompts) {
  auto text = LoadPrompts(Write("p.txt", "first prompt\n\n  \nsecond\r\n"));
  ASSERT_TRUE(text.ok());
  ASSERT_EQ(text->size(), 2u);
  EXPECT_EQ((*text)[1].back().content, "second");
  auto jsonl = LoadPrompts(Write("p.jsonl", "{\"prompt\":\"hi\",\"system\":\"be brief\"}\n"
                                            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}\n"));
  ASSERT_TRUE(jsonl.ok()) << jsonl.status().message();
  ASSERT_EQ(jsonl->size(), 2u);
  EXPECT_EQ((*jsonl)[0].size(), 2u);
  EXPECT_EQ((*jsonl)[0][0].role, "system");
  EXPECT_EQ((*jsonl)[0][1].content, "hi");
}

TEST_F(PairsTest, BadPromptFilesFailNamingTheLine) {
  const std::pair<std::string, std::string> cases[] = {
      {"\n\n", "has no prompts"},
      {"{\"prompt\":\"a\"}\n{\"prompt\":\n", "p.jsonl:2: malformed JSON"},
      {"{\"text\":\"a\"}\n", "p.jsonl:1: needs \"messages\""},
      {"{\"prompt\":\"  \"}\n", "the prompt is empty"},
      {"{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\"}]}\n", "already the assistant's"},
  };
  for (const auto& [text, want] : cases) {
    auto p = LoadPrompts(Write("p.jsonl", text));
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_NE(p.status().message().find(want), std::string::npos) << p.status().message();
  }
  EXPECT_EQ(LoadPrompts((dir_ / "missing.txt").string()).status().code(), StatusCode::kNotFound);
}

TEST_F(PairsTest, AnswersAreSavedAndNotAskedAgain) {
  const std::vector<Prompt> prompts = {{{"user", "one"}}, {{"user", "two"}}, {{"user", "three"}}};
  const std::string pairs = (dir_ / "pairs.jsonl").string();
  int calls = 0;
  // A teacher that fails on its third call: two answers are saved, the error names the prompt.
  auto flaky = [&](const Prompt& p) -> StatusOr<std::string> {
    if (++calls == 3) return UnavailableError("connection refused");
    return "answer to " + p.back().content;
  };
  auto first = CollectAnswers(prompts, pairs, flaky);
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find("prompt 3 of 3: connection refused"), std::string::npos)
      << first.status().message();
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
  // A torn line (as after power loss) is dropped; only the missing prompt is asked for.
  { std::ofstream(pairs, std::ios::app) << "{\"messages\":[{\"ro"; }
  std::vector<std::string> asked;
  auto teacher = [&](const Prompt& p) -> StatusOr<std::string> {
    asked.push_back(p.back().content);
    return "answer to " + p.back().content;
  };
  auto second = CollectAnswers(prompts, pairs, teacher);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->reused, 2);
  EXPECT_EQ(second->asked, 1);
  EXPECT_EQ(asked, std::vector<std::string>{"three"});
  std::string want;
  for (const Prompt& p : prompts) want += PairLine(p, "answer to " + p.back().content) + "\n";
  EXPECT_EQ(*ReadFileToString(pairs), want);
  // A pairs file made for other prompts is refused, not mixed in.
  const std::vector<Prompt> other = {{{"user", "one"}}, {{"user", "changed"}}, {{"user", "three"}}};
  auto mixed = CollectAnswers(other, pairs, teacher);
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("pairs.jsonl:2: answers another prompt than prompt 2"), std::string::npos)
      << mixed.status().message();
}

}  // namespace
}  // namespace flotilla::train
