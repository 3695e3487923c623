#include "tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace flotilla {
namespace {

using Pieces = std::vector<std::string>;

Pieces Split(const std::string& pre, const std::string& text) {
  auto p = PreTokenizer::Create(pre);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return (*p)->SplitToStrings(text);
}

TEST(PreTokenizer, Gpt2Rules) {
  EXPECT_EQ(Split("gpt-2", "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(Split("gpt-2", "I'm can't we'll"), (Pieces{"I", "'m", " can", "'t", " we", "'ll"}));
  // Contractions are case-sensitive in GPT-2.
  EXPECT_EQ(Split("gpt-2", "I'M"), (Pieces{"I", "'", "M"}));
  EXPECT_EQ(Split("gpt-2", "123456 7"), (Pieces{"123456", " 7"}));
  // \s+(?!\S): a run of spaces leaves its last space to the next word.
  EXPECT_EQ(Split("gpt-2", "a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(Split("gpt-2", "a  "), (Pieces{"a", "  "}));
  EXPECT_EQ(Split("gpt-2", "a\tb"), (Pieces{"a", "\t", "b"}));
  EXPECT_EQ(Split("gpt-2", "hi!!! ?"), (Pieces{"hi", "!!!", " ?"}));
}

TEST(PreTokenizer, Llama3Rules) {
  EXPECT_EQ(Split("llama-bpe", "1234567"), (Pieces{"123", "456", "7"}));
  EXPECT_EQ(Split("llama-bpe", "I'M here"), (Pieces{"I", "'M", " here"}));
  EXPECT_EQ(Split("llama-bpe", "Hello\n\nworld"), (Pieces{"Hello", "\n\n", "world"}));
  EXPECT_EQ(Split("llama-bpe", "x  \n  y"), (Pieces{"x", "  \n", " ", " y"}));
  EXPECT_EQ(Split("llama-bpe", "(hello)"), (Pieces{"(hello", ")"}));
  EXPECT_EQ(Split("llama-bpe", "ok...\n"), (Pieces{"ok", "...\n"}));
}

TEST(PreTokenizer, DigitRules) {
  EXPECT_EQ(Split("qwen2", "a123"), (Pieces{"a", "1", "2", "3"}));
  EXPECT_EQ(Split("smollm", "abc 123"), (Pieces{"abc", " ", "1", "2", "3"}));
  EXPECT_EQ(Split("starcoder", "x=42"), (Pieces{"x", "=", "4", "2"}));
  EXPECT_EQ(Split("deepseek-coder", "abc 12"), (Pieces{"abc", " ", "1", "2"}));
  EXPECT_EQ(Split("falcon", "1234567"), (Pieces{"123", "456", "7"}));
}

TEST(PreTokenizer, DeepseekLlm) {
  EXPECT_EQ(Split("deepseek-llm", "Hello world\nok 12"),
            (Pieces{"Hello", " world", "\n", "ok", " ", "12"}));
  EXPECT_EQ(Split("deepseek-llm", "a  "), (Pieces{"a", "  "}));
}

TEST(PreTokenizer, NextLineIsWhitespaceAsInLlamaCpp) {
  // U+0085 is White_Space for llama.cpp; PCRE2's \s alone would not say so.
  EXPECT_EQ(Split("gpt-2", "a\xC2\x85\xC2\x85z"), (Pieces{"a", "\xC2\x85", "\xC2\x85", "z"}));
}

TEST(PreTokenizer, PiecesCoverTheInput) {
  const std::vector<std::string> texts = {
      "", " ", "\n\n\n", "Hello, World! 3.14159", "  leading and trailing  ", "tab\tand\rcr",
      "\xF0\x9F\xA6\x99 llama \xE4\xBD\xA0\xE5\xA5\xBD 123456789", "''''\"\"\"```", "a'll 'LL 'd"};
  for (const std::string& name : PreTokenizer::SupportedNames()) {
    auto pre = PreTokenizer::Create(name);
    ASSERT_TRUE(pre.ok()) << name << ": " << pre.status().ToString();
    for (const std::string& text : texts) {
      std::string joined;
      for (const std::string& piece : (*pre)->SplitToStrings(text)) {
        EXPECT_FALSE(piece.empty()) << name;
        joined += piece;
      }
      EXPECT_EQ(joined, text) << name;
    }
  }
}

TEST(PreTokenizer, NamesAndErrors) {
  const auto names = PreTokenizer::SupportedNames();
  for (const char* required : {"default", "gpt-2", "llama-bpe", "qwen2", "smollm", "deepseek-llm",
                               "deepseek-coder", "falcon", "starcoder", "refact", "mpt",
                               "command-r", "chameleon", "roberta-bpe"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
  }
  auto empty = PreTokenizer::Create("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE((*empty)->ignore_merges());
  EXPECT_TRUE((*PreTokenizer::Create("llama-bpe"))->ignore_merges());
  auto bad = PreTokenizer::Create("gpt-neox-42");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(bad.status().message().find("'gpt-neox-42'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("qwen2"), std::string::npos);
  EXPECT_EQ(PreTokenizer::FromRegexes({"(unclosed"}).status().code(), StatusCode::kInvalidArgument);
}

TEST(SanitizeUtf8, ReplacesInvalidBytesOneByOne) {
  std::string storage;
  const std::string valid = "h\xC3\xA9llo \xF0\x9F\x98\x81";
  EXPECT_EQ(SanitizeUtf8(valid, storage).data(), valid.data());  // no copy when valid
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(SanitizeUtf8("\xFF", storage), fffd);
  EXPECT_EQ(SanitizeUtf8("a\xE2\x82", storage), "a" + fffd + fffd);
  EXPECT_EQ(SanitizeUtf8("\x80z", storage), fffd + "z");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF", storage), fffd + fffd);              // overlong
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80", storage), fffd + fffd + fffd);  // surrogate
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80", storage), fffd + fffd + fffd + fffd);  // > U+10FFFF
}

TEST(PreTokenizer, InvalidUtf8NeverCrashes) {
  // Split requires valid UTF-8, but PCRE2 runs with MATCH_INVALID_UTF: raw bytes still give pieces.
  auto pre = PreTokenizer::Create("llama-bpe");
  ASSERT_TRUE(pre.ok());
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 73 + 11) & 0xFF));
  std::string joined;
  for (const std::string& piece : (*pre)->SplitToStrings(junk)) joined += piece;
  EXPECT_EQ(joined, junk);
}

}  // namespace
}  // namespace flotilla
