// SentencePiece codec and the Tokenizer facade on a tiny vocab built in the test.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace flotilla {
namespace {

constexpr int32_t kUnk = 0, kBos = 1, kEos = 2, kByte0 = 3;  // bytes are ids 3..258
int32_t ByteId(uint8_t b) { return kByte0 + b; }

struct Piece {
  std::string text;
  float score;
  TokenType type = TokenType::kNormal;
};

// <unk> <s> </s>, optionally 256 byte tokens, then `pieces` in order.
Vocab MakeVocab(const std::vector<Piece>& pieces, bool byte_tokens = true) {
  Vocab v;
  v.kind = TokenizerKind::kSpm;
  auto add = [&](std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0, TokenType::kUnknown);
  add("<s>", 0, TokenType::kControl);
  add("</s>", 0, TokenType::kControl);
  if (byte_tokens) {
    static const char* kHex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) add(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">", 0, TokenType::kByte);
  }
  for (const Piece& p : pieces) add(p.text, p.score, p.type);
  v.unk = kUnk, v.bos = kBos, v.eos = kEos;
  v.add_bos = true;
  v.add_space_prefix = true;
  return v;
}

std::unique_ptr<Tokenizer> Make(Vocab v) {
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

const std::vector<Piece> kAbc = {{"a", -1}, {"b", -1}, {"c", -1}, {"ab", -3}, {"bc", -2}, {"\xE2\x96\x81", -1}};

TEST(SpmTest, MergesHighestScoreFirst) {
  auto t = Make(MakeVocab(kAbc));
  // "bc" (-2) beats "ab" (-3).
  std::vector<int32_t> ids = t->Encode("abc", false, false);
  EXPECT_EQ(ids, (std::vector<int32_t>{Id(*t, "\xE2\x96\x81"), Id(*t, "a"), Id(*t, "bc")}));

  std::vector<Piece> ab_wins = kAbc;
  ab_wins[3].score = -1.5f;
  auto t2 = Make(MakeVocab(ab_wins));
  EXPECT_EQ(t2->Encode("abc", false, false),
            (std::vector<int32_t>{Id(*t2, "\xE2\x96\x81"), Id(*t2, "ab"), Id(*t2, "c")}));
}

TEST(SpmTest, EqualScoresMergeLeftmostFirst) {
  std::vector<Piece> tie = kAbc;
  tie[3].score = tie[4].score = -2;
  auto t = Make(MakeVocab(tie));
  EXPECT_EQ(t->Encode("abc", false, false),
            (std::vector<int32_t>{Id(*t, "\xE2\x96\x81"), Id(*t, "ab"), Id(*t, "c")}));
}

TEST(SpmTest, SpacesBecomeMarkersAndPrefixFollowsSpecialTokens) {
  std::vector<Piece> pieces = kAbc;
  pieces.push_back({"\xE2\x96\x81" "a", 0});
  auto t = Make(MakeVocab(pieces));
  const int32_t sa = Id(*t, "\xE2\x96\x81" "a");
  EXPECT_EQ(t->Encode("a a", false, false), (std::vector<int32_t>{sa, sa}));
  // After a parsed special token the next fragment gets the space prefix again.
  EXPECT_EQ(t->Encode("a</s>a", false, true), (std::vector<int32_t>{sa, kEos, sa}));

  Vocab no_prefix = MakeVocab(pieces);
  no_prefix.add_space_prefix = false;
  auto t2 = Make(no_prefix);
  EXPECT_EQ(t2->Encode("a a", false, false), (std::vector<int32_t>{Id(*t2, "a"), sa}));
}

// The codec encodes the text in segments cut between characters that no token holds together; a
// vocab with a token across "a" + U+2581 must keep that pair in one segment.
TEST(SpmTest, TokensAcrossSpacesStillMerge) {
  std::vector<Piece> pieces = kAbc;
  pieces.push_back({"a\xE2\x96\x81", -1.2f});
  pieces.push_back({"a\xE2\x96\x81" "b", -0.5f});
  auto t = Make(MakeVocab(pieces));
  const int32_t sp = Id(*t, "\xE2\x96\x81");
  EXPECT_EQ(t->Encode("ca bc", false, false),
            (std::vector<int32_t>{sp, Id(*t, "c"), Id(*t, "a\xE2\x96\x81" "b"), Id(*t, "c")}));
  // "c" + U+2581 is in no token: a cut there changes nothing.
  EXPECT_EQ(t->Encode("c bc", false, false),
            (std::vector<int32_t>{sp, Id(*t, "c"), sp, Id(*t, "bc")}));
  // Without the cross-space tokens the same text splits at the space.
  auto t2 = Make(MakeVocab(kAbc));
  EXPECT_EQ(t2->Encode("ca bc", false, false),
            (std::vector<int32_t>{sp, Id(*t2, "c"), Id(*t2, "a"), sp, Id(*t2, "bc")}));
}

// Long texts reuse the ids of repeated segments; they must equal the ids of each repeat on its own.
TEST(SpmTest, LongTextsGiveTheSameIdsAsTheirParts) {
  std::vector<Piece> pieces = kAbc;
  pieces.push_back({"a\xE2\x96\x81", -1.2f});
  pieces.push_back({"a\xE2\x96\x81" "b", -0.5f});
  Vocab vocab = MakeVocab(pieces);
  vocab.add_space_prefix = false;
  auto t = Make(vocab);
  const std::string units[] = {" ca bc", " abc", " ca b\xC3\xA9", " cca bcc"};
  std::string text;
  std::vector<int32_t> expected;
  for (int i = 0; text.size() < 10000; ++i) {
    const std::string& unit = units[(i * 7 + i / 3) % 4];
    text += unit;
    const std::vector<int32_t> ids = t->Encode(unit, false, false);
    expected.insert(expected.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(t->Encode(text, false, false), expected);
}

TEST(SpmTest, UnknownCharactersFallBackToBytes) {
  auto t = Make(MakeVocab(kAbc));
  // U+00E9 is not in the vocab: its two UTF-8 bytes become byte tokens.
  EXPECT_EQ(t->Encode("\xC3\xA9", false, false),
            (std::vector<int32_t>{Id(*t, "\xE2\x96\x81"), ByteId(0xC3), ByteId(0xA9)}));
  // Without byte tokens every byte becomes <unk>.
  auto t2 = Make(MakeVocab(kAbc, /*byte_tokens=*/false));
  EXPECT_EQ(t2->Encode("\xC3\xA9", false, false), (std::vector<int32_t>{Id(*t2, "\xE2\x96\x81"), kUnk, kUnk}));
}

TEST(SpmTest, InvalidUtf8IsDeterministicAndRoundTrips) {
  auto t = Make(MakeVocab(kAbc));
  const std::string inputs[] = {"\xFF", "a\xC3", "\x80\x80", "\xF0\x9F", "b\xE2\x96", std::string("a\0b", 3)};
  for (const std::string& in : inputs) {
    std::vector<int32_t> first = t->Encode(in, true, true);
    EXPECT_EQ(first, t->Encode(in, true, true));
    for (int32_t id : first) EXPECT_TRUE(id >= 0 && id < t->n_vocab());
    EXPECT_EQ(t->Decode(t->Encode(in, false, false)), in);
  }
  EXPECT_EQ(t->Encode("a\xC3", false, false),
            (std::vector<int32_t>{Id(*t, "\xE2\x96\x81"), Id(*t, "a"), ByteId(0xC3)}));
}

TEST(SpmTest, EmptyInput) {
  auto t = Make(MakeVocab(kAbc));
  EXPECT_TRUE(t->Encode("", false, false).empty());
  EXPECT_EQ(t->Encode("", true, false), (std::vector<int32_t>{kBos}));
  EXPECT_EQ(t->Decode(std::vector<int32_t>{}), "");
}

TEST(SpmTest, BosEosFollowVocabFlags) {
  Vocab v = MakeVocab(kAbc);
  v.add_eos = true;
  auto t = Make(v);
  std::vector<int32_t> ids = t->Encode("a", true, false);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids.front(), kBos);
  EXPECT_EQ(ids.back(), kEos);
  EXPECT_EQ(t->Encode("a", false, false).front(), Id(*t, "\xE2\x96\x81"));

  Vocab no_bos = MakeVocab(kAbc);
  no_bos.add_bos = false;
  EXPECT_EQ(Make(no_bos)->Encode("a", true, false).front(), Id(*t, "\xE2\x96\x81"));
}

TEST(SpmTest, SpecialTokensParsedOnlyWhenAsked) {
  std::vector<Piece> pieces = kAbc;
  pieces.push_back({"<user>", 0, TokenType::kUserDefined});
  auto t = Make(MakeVocab(pieces));
  const int32_t user = Id(*t, "<user>");
  // parse_special: control tokens become their ids.
  EXPECT_EQ(t->Encode("<s>a", false, true), (std::vector<int32_t>{kBos, Id(*t, "\xE2\x96\x81"), Id(*t, "a")}));
  // Without it "<s>" is plain text (bytes here).
  std::vector<int32_t> plain = t->Encode("<s>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), kBos), 0);
  EXPECT_EQ(plain.back(), ByteId('>'));
  // User-defined tokens are split out either way.
  EXPECT_EQ(t->Encode("<user>", false, false), (std::vector<int32_t>{user}));
  EXPECT_EQ(t->Encode("a<user>", false, false),
            (std::vector<int32_t>{Id(*t, "\xE2\x96\x81"), Id(*t, "a"), user}));
}

TEST(SpmTest, Phi3SpecialTokensStripFollowingWhitespace) {
  std::vector<Piece> pieces = kAbc;
  pieces.push_back({"<|user|>", 0, TokenType::kControl});
  pieces.push_back({"\xE2\x96\x81" "a", 0});
  Vocab v = MakeVocab(pieces);
  v.model_name = "Phi3";
  auto t = Make(v);
  const int32_t sa = Id(*t, "\xE2\x96\x81" "a");
  EXPECT_EQ(t->Encode("<|user|>\n a", false, true), (std::vector<int32_t>{Id(*t, "<|user|>"), sa}));
  v.model_name = "other";
  auto t2 = Make(v);
  EXPECT_NE(t2->Encode("<|user|>\n a", false, true), (std::vector<int32_t>{Id(*t2, "<|user|>"), sa}));
}

TEST(SpmTest, DecodeDropsTheAddedSpaceAndRendersSpecials) {
  auto t = Make(MakeVocab(kAbc));
  for (const std::string text : {"abc", " abc", "a b  c ", "\xC3\xA9t\xC3\xA9", "  "}) {
    EXPECT_EQ(t->Decode(t->Encode(text, false, false)), text) << text;
  }
  std::vector<int32_t> ids = t->Encode("abc", true, false);
  EXPECT_EQ(t->Decode(ids, /*render_special=*/true), "<s> abc");
  EXPECT_EQ(t->Decode(ids, /*render_special=*/false), " abc");
  EXPECT_EQ(t->TokenToPiece(ByteId('A')), "A");
  EXPECT_EQ(t->TokenToPiece(kEos, false), "");
  EXPECT_EQ(t->TokenToPiece(-1), "");
  EXPECT_EQ(t->TokenToPiece(t->n_vocab()), "");
}

TEST(SpmTest, EndOfGeneration) {
  std::vector<Piece> pieces = kAbc;
  pieces.push_back({"<|im_end|>", 0, TokenType::kUserDefined});
  auto t = Make(MakeVocab(pieces));
  EXPECT_TRUE(t->IsEog(kEos));
  EXPECT_TRUE(t->IsEog(Id(*t, "<|im_end|>")));
  EXPECT_FALSE(t->IsEog(kBos));
  // Forced to CONTROL, so it is not split out of plain text.
  EXPECT_NE(t->Encode("<|im_end|>", false, false), (std::vector<int32_t>{Id(*t, "<|im_end|>")}));
  EXPECT_EQ(t->Encode("<|im_end|>", false, true), (std::vector<int32_t>{Id(*t, "<|im_end|>")}));
}

TEST(SpmTest, CreateRejectsBadVocabs) {
  Vocab empty;
  EXPECT_FALSE(Tokenizer::Create(empty).ok());
  Vocab bad_id = MakeVocab(kAbc);
  bad_id.bos = 100000;
  EXPECT_EQ(Tokenizer::Create(bad_id).status().code(), StatusCode::kOutOfRange);
  Vocab bad_scores = MakeVocab(kAbc);
  bad_scores.scores.pop_back();
  EXPECT_EQ(Tokenizer::Create(bad_scores).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flotilla
