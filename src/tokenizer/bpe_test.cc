#include "tokenizer/bpe.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/codec.h"
#include "tokenizer/vocab.h"

namespace flotilla {
namespace {

// A vocab with a token for every byte (ids 0..255 = byte values) and the extra tokens given.
Vocab ByteVocab(const std::vector<std::string>& extra, const std::vector<std::string>& merges,
                const std::string& pre = "gpt-2") {
  Vocab vocab;
  vocab.kind = TokenizerKind::kBpe;
  vocab.pre = pre;
  for (int b = 0; b < 256; ++b) vocab.tokens.emplace_back(ByteToUnicode(static_cast<uint8_t>(b)));
  for (const std::string& t : extra) vocab.tokens.push_back(t);
  vocab.types.assign(vocab.tokens.size(), TokenType::kNormal);
  vocab.merges = merges;
  return vocab;
}

std::unique_ptr<Codec> MakeCodec(const Vocab& vocab) {
  auto codec = CreateBpeCodec(vocab);
  EXPECT_TRUE(codec.ok()) << codec.status().ToString();
  return std::move(codec).value();
}

std::vector<int32_t> Encode(const Codec& codec, std::string_view text) {
  std::vector<int32_t> ids;
  codec.Encode(text, true, ids);
  return ids;
}

TEST(ByteLevel, MappingIsABijectionOfPrintableCodePoints) {
  std::vector<std::string> seen;
  for (int b = 0; b < 256; ++b) {
    const std::string s(ByteToUnicode(static_cast<uint8_t>(b)));
    EXPECT_EQ(ByteLevelDecode(s), std::string(1, static_cast<char>(b))) << b;
    seen.push_back(s);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_EQ(ByteToUnicode(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(ByteToUnicode('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(ByteToUnicode('A'), "A");
  EXPECT_EQ(ByteToUnicode(0xAD), "\xC5\x83");  // the 68th remapped byte: U+0143
}

TEST(ByteLevel, EncodeDecodeRoundTripsAllBytes) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string encoded;
  ByteLevelEncode(all, encoded);
  EXPECT_EQ(ByteLevelDecode(encoded), all);
  // Code points outside the mapping and stray bytes pass through unchanged.
  EXPECT_EQ(ByteLevelDecode("\xE4\xBD\xA0"), "\xE4\xBD\xA0");
  EXPECT_EQ(ByteLevelDecode("\xFF"), "\xFF");
}

TEST(BpeCodec, MergesApplyByRank) {
  const Vocab vocab = ByteVocab({"ab", "bc", "abc"}, {"a b", "ab c", "b c"});
  auto codec = MakeCodec(vocab);
  EXPECT_EQ(Encode(*codec, "abc"), (std::vector<int32_t>{258}));  // a b -> ab, ab c -> abc
  const Vocab swapped = ByteVocab({"ab", "bc", "abc"}, {"b c", "a b", "ab c"});
  auto codec2 = MakeCodec(swapped);
  EXPECT_EQ(Encode(*codec2, "abc"), (std::vector<int32_t>{'a', 257}));  // b c first; "a bc" no merge
}

TEST(BpeCodec, LeftmostPairWinsATie) {
  const Vocab vocab = ByteVocab({"aa"}, {"a a"});
  auto codec = MakeCodec(vocab);
  EXPECT_EQ(Encode(*codec, "aaa"), (std::vector<int32_t>{256, 'a'}));
}

TEST(BpeCodec, SpaceIsByteLevelAndPreTokenized) {
  const Vocab vocab = ByteVocab({"ab", "\xC4\xA0" "ab"}, {"a b", "\xC4\xA0 ab"});
  auto codec = MakeCodec(vocab);
  // gpt-2 splits "ab ab" into "ab" and " ab".
  EXPECT_EQ(Encode(*codec, "ab ab"), (std::vector<int32_t>{256, 257}));
  std::string decoded;
  for (int32_t id : Encode(*codec, "ab ab")) decoded += codec->DecodeToken(id);
  EXPECT_EQ(decoded, "ab ab");
}

TEST(BpeCodec, IgnoreMergesEmitsWholeWordTokens) {
  const std::vector<std::string> extra = {"ab", "abc"};
  auto gpt2 = MakeCodec(ByteVocab(extra, {"a b"}, "gpt-2"));
  EXPECT_EQ(Encode(*gpt2, "abc"), (std::vector<int32_t>{256, 'c'}));
  auto llama3 = MakeCodec(ByteVocab(extra, {"a b"}, "llama-bpe"));
  EXPECT_EQ(Encode(*llama3, "abc"), (std::vector<int32_t>{257}));
}

TEST(BpeCodec, EveryByteRoundTripsThroughDecode) {
  auto codec = MakeCodec(ByteVocab({}, {}));
  for (int b = 0; b < 0x80; ++b) {
    const std::string text(1, static_cast<char>(b));
    const auto ids = Encode(*codec, text);
    ASSERT_EQ(ids.size(), 1u) << b;
    EXPECT_EQ(ids[0], b);
    EXPECT_EQ(codec->DecodeToken(ids[0]), text);
  }
  EXPECT_EQ(codec->DecodeToken(-1), "");
  EXPECT_EQ(codec->DecodeToken(100000), "");
}

TEST(BpeCodec, InvalidUtf8BecomesReplacementCharacter) {
  auto codec = MakeCodec(ByteVocab({}, {}));
  EXPECT_EQ(Encode(*codec, "\xFF"), (std::vector<int32_t>{0xEF, 0xBF, 0xBD}));
  EXPECT_EQ(Encode(*codec, "a\xE2\x82"), (std::vector<int32_t>{'a', 0xEF, 0xBF, 0xBD, 0xEF, 0xBF, 0xBD}));
  EXPECT_TRUE(Encode(*codec, "").empty());
  // Deterministic on arbitrary bytes.
  std::string junk;
  for (int i = 0; i < 1000; ++i) junk.push_back(static_cast<char>((i * 131 + 7) & 0xFF));
  EXPECT_EQ(Encode(*codec, junk), Encode(*codec, junk));
}

TEST(BpeCodec, MissingByteTokensAreSkipped) {
  Vocab vocab;
  vocab.kind = TokenizerKind::kBpe;
  vocab.pre = "gpt-2";
  vocab.tokens = {"a", "b"};
  vocab.types.assign(2, TokenType::kNormal);
  auto codec = MakeCodec(vocab);
  EXPECT_EQ(Encode(*codec, "a\xC3\xA9" "b"), (std::vector<int32_t>{0, 1}));
}

TEST(BpeCodec, RejectsBadVocabs) {
  Vocab vocab = ByteVocab({}, {});
  vocab.pre = "no-such-pre";
  auto bad_pre = CreateBpeCodec(vocab);
  ASSERT_FALSE(bad_pre.ok());
  EXPECT_EQ(bad_pre.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(bad_pre.status().message().find("no-such-pre"), std::string::npos);
  EXPECT_NE(bad_pre.status().message().find("llama-bpe"), std::string::npos);

  Vocab dup = ByteVocab({"a"}, {});
  EXPECT_EQ(CreateBpeCodec(dup).status().code(), StatusCode::kInvalidArgument);

  Vocab spm = ByteVocab({}, {});
  spm.kind = TokenizerKind::kSpm;
  EXPECT_EQ(CreateBpeCodec(spm).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flotilla
