// WordPiece codec (llama.cpp's converted BERT vocab: "▁word" starts a word) on a tiny vocab.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace flotilla {
namespace {

#define W "\xE2\x96\x81"  // U+2581, the word-start marker

std::unique_ptr<Tokenizer> MakeWpm() {
  Vocab v;
  v.kind = TokenizerKind::kWpm;
  v.tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", W "hello", W "world", W "un", "aff",
              "able",  W ",",    W "!",   W "cafe", W "\xE6\x97\xA5", "a", W "a", W "x"};
  v.types.assign(v.tokens.size(), TokenType::kNormal);
  for (int i = 0; i < 5; ++i) v.types[i] = TokenType::kControl;
  v.pad = 0, v.unk = 1, v.bos = 2, v.sep = 3, v.mask = 4;
  v.add_bos = true, v.add_sep = true, v.clean_spaces = true;
  StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::Create(std::move(v));
  CHECK(t.ok());
  return std::move(*t);
}

int32_t Id(const Tokenizer& t, const std::string& text) {
  for (int32_t i = 0; i < t.n_vocab(); ++i) {
    if (t.vocab().tokens[i] == text) return i;
  }
  return -1;
}

TEST(WpmTest, LowercasesAndSplitsPunctuation) {
  auto t = MakeWpm();
  EXPECT_EQ(t->Encode("Hello, WORLD!", false, false),
            (std::vector<int32_t>{Id(*t, W "hello"), Id(*t, W ","), Id(*t, W "world"), Id(*t, W "!")}));
}

TEST(WpmTest, GreedyLongestMatchAndUnknownWords) {
  auto t = MakeWpm();
  EXPECT_EQ(t->Encode("unaffable", false, false),
            (std::vector<int32_t>{Id(*t, W "un"), Id(*t, "aff"), Id(*t, "able")}));
  // A word with an unmatched tail becomes a single [UNK].
  EXPECT_EQ(t->Encode("unaffablez hello", false, false), (std::vector<int32_t>{1, Id(*t, W "hello")}));
}

TEST(WpmTest, StripsAccentsAndSeparatesCjk) {
  auto t = MakeWpm();
  EXPECT_EQ(t->Encode("Caf\xC3\xA9", false, false), (std::vector<int32_t>{Id(*t, W "cafe")}));
  // A combining accent is dropped too.
  EXPECT_EQ(t->Encode("cafe\xCC\x81", false, false), (std::vector<int32_t>{Id(*t, W "cafe")}));
  // CJK ideographs are words of their own: "日日" -> two words.
  EXPECT_EQ(t->Encode("\xE6\x97\xA5\xE6\x97\xA5", false, false),
            (std::vector<int32_t>{Id(*t, W "\xE6\x97\xA5"), Id(*t, W "\xE6\x97\xA5")}));
}

TEST(WpmTest, AddSpecialFramesWithClsAndSep) {
  auto t = MakeWpm();
  EXPECT_EQ(t->Encode("hello", true, false), (std::vector<int32_t>{2, Id(*t, W "hello"), 3}));
  EXPECT_EQ(t->Encode("", true, false), (std::vector<int32_t>{2, 3}));
  EXPECT_TRUE(t->Encode("", false, false).empty());
  EXPECT_EQ(t->Encode("[MASK] hello", false, true), (std::vector<int32_t>{4, Id(*t, W "hello")}));
}

TEST(WpmTest, InvalidUtf8AndControlsAreDropped) {
  auto t = MakeWpm();
  EXPECT_EQ(t->Encode("\xFF" "hello\x01\xC3", false, false), (std::vector<int32_t>{Id(*t, W "hello")}));
  EXPECT_TRUE(t->Encode("\xFF\xFE \t\n", false, false).empty());
}

TEST(WpmTest, Decode) {
  auto t = MakeWpm();
  std::vector<int32_t> ids = t->Encode("Hello, world!", true, false);
  EXPECT_EQ(t->Decode(ids, /*render_special=*/false), " hello, world!");
  EXPECT_EQ(t->Decode(ids, /*render_special=*/true), "[CLS] hello, world![SEP]");
}

}  // namespace
}  // namespace flotilla
