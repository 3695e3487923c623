#include "tokenizer/vocab_trainer.h"

#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"

namespace flotilla {
namespace {

constexpr char kText[] =
    "the boat and the harbor and the boat and the sea\n"
    "the boats know the way and the boats ask when unsure\n";

TEST(VocabTrainer, ExactSizeWithFixedTokensFirst) {
  StatusOr<Vocab> v = TrainSpmVocab(kText, {.vocab_size = 300});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->size(), 300);
  EXPECT_EQ(v->tokens[0], "<unk>");
  EXPECT_EQ(v->tokens[1], "<s>");
  EXPECT_EQ(v->tokens[2], "</s>");
  EXPECT_EQ(v->tokens[3], "<0x00>");
  EXPECT_EQ(v->tokens[258], "<0xFF>");
  EXPECT_EQ(v->types[258], TokenType::kByte);
  EXPECT_EQ(v->scores.size(), v->tokens.size());
}

TEST(VocabTrainer, LearnsFrequentWordsAsSingleTokens) {
  StatusOr<Vocab> v = TrainSpmVocab(kText, {.vocab_size = 320});
  ASSERT_TRUE(v.ok());
  StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::Create(*v);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  std::vector<int32_t> ids = (*tok)->Encode("the boat", /*add_special=*/false, /*parse_special=*/false);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(v->tokens[ids[0]], "\xE2\x96\x81the");
  EXPECT_EQ(v->tokens[ids[1]], "\xE2\x96\x81" "boat");
  EXPECT_EQ((*tok)->Decode(ids), "the boat");
}

TEST(VocabTrainer, UnseenTextFallsBackToBytesAndRoundTrips) {
  StatusOr<Vocab> v = TrainSpmVocab(kText, {.vocab_size = 320});
  ASSERT_TRUE(v.ok());
  StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::Create(*v);
  ASSERT_TRUE(tok.ok());
  const std::string text = "Zürich \xF0\x9F\x9A\xA2 quay";
  std::vector<int32_t> ids = (*tok)->Encode(text, false, false);
  EXPECT_EQ((*tok)->Decode(ids), text);
}

TEST(VocabTrainer, DeterministicAndPadsWithUnusedTokens) {
  StatusOr<Vocab> a = TrainSpmVocab(kText, {.vocab_size = 1000});
  StatusOr<Vocab> b = TrainSpmVocab(kText, {.vocab_size = 1000});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_EQ(a->types.back(), TokenType::kUnused);
  StatusOr<Vocab> empty = TrainSpmVocab("", {.vocab_size = 259});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 259);
}

TEST(VocabTrainer, RejectsVocabTooSmallForFixedTokens) {
  StatusOr<Vocab> v = TrainSpmVocab(kText, {.vocab_size = 100});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("259"), std::string::npos);
}

}  // namespace
}  // namespace flotilla
