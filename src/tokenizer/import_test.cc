#include "tokenizer/import.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "shared_dir.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;

using ::flotilla::testutil::SharedDir;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The cases of a llama.cpp .inp file.
std::vector<std::string> ReadCases(const fs::path& inp) {
  const std::string raw = Slurp(inp);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  for (size_t pos = 0, q; (q = raw.find(sep, pos)) != std::string::npos; pos = q + sep.size()) {
    cases.push_back(raw.substr(pos, q - pos));
  }
  return cases;
}

std::vector<std::vector<int32_t>> ReadExpected(const fs::path& out) {
  std::vector<std::vector<int32_t>> lines;
  std::ifstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::vector<int32_t> ids;
    std::istringstream ss(line);
    for (int32_t id; ss >> id;) ids.push_back(id);
    lines.push_back(ids);
  }
  return lines;
}

// --- tiktoken ---------------------------------------------------------------------------------

TEST(ImportTiktoken, BuildsLlama3LayoutWithDerivedMerges) {
  // a=0 b=1 c=2 ab=3 abc=4
  auto vocab = ImportTiktokenText("YQ== 0\nYg== 1\nYw== 2\nYWI= 3\nYWJj 4\n");
  ASSERT_TRUE(vocab.ok()) << vocab.status().ToString();
  EXPECT_EQ(vocab->kind, TokenizerKind::kBpe);
  EXPECT_EQ(vocab->pre, "llama-bpe");
  EXPECT_EQ(vocab->size(), 5 + 256);
  EXPECT_EQ(vocab->merges, (std::vector<std::string>{"a b", "ab c"}));
  EXPECT_EQ(vocab->tokens[5], "<|begin_of_text|>");
  EXPECT_EQ(vocab->tokens[5 + 9], "<|eot_id|>");
  EXPECT_EQ(vocab->tokens.back(), "<|reserved_special_token_250|>");
  EXPECT_EQ(vocab->bos, 5);
  EXPECT_EQ(vocab->eos, 6);
  EXPECT_EQ(vocab->eot, 14);
  EXPECT_TRUE(vocab->add_bos);
  EXPECT_EQ(vocab->types[0], TokenType::kNormal);
  EXPECT_EQ(vocab->types[5], TokenType::kControl);
}

TEST(ImportTiktoken, TokensAreByteLevelEncoded) {
  auto vocab = ImportTiktokenText("IA== 0\nCg== 1\n");  // " " and "\n"
  ASSERT_TRUE(vocab.ok());
  EXPECT_EQ(vocab->tokens[0], "\xC4\xA0");
  EXPECT_EQ(vocab->tokens[1], "\xC4\x8A");
}

TEST(ImportTiktoken, RejectsCorruptInput) {
  auto code = [](std::string_view text) { return ImportTiktokenText(text).status(); };
  EXPECT_EQ(code("Y!== 0\n").code(), StatusCode::kInvalidArgument);
  EXPECT_NE(code("YQ== 0\nY!== 1\n").message().find("line 2"), std::string::npos);
  EXPECT_NE(code("YQ== 0\nY!== 1\n").message().find("base64"), std::string::npos);
  EXPECT_EQ(code("YQ==\n").code(), StatusCode::kInvalidArgument);        // no rank
  EXPECT_EQ(code("YQ== x\n").code(), StatusCode::kInvalidArgument);      // bad rank
  EXPECT_EQ(code("YQ== 0\nYg== 0\n").code(), StatusCode::kInvalidArgument);  // repeated rank
  EXPECT_EQ(code("YQ== 0\nYg== 5\n").code(), StatusCode::kInvalidArgument);  // gap
  EXPECT_EQ(code("YQ== 0\nYQ== 1\n").code(), StatusCode::kInvalidArgument);  // repeated token
  EXPECT_EQ(code("").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("YQ= 0\n").code(), StatusCode::kInvalidArgument);       // bad length
}

TEST(ImportTiktoken, Llama3MatchesGgufAndGoldenFile) {
  const fs::path model = fs::path(SharedDir()) / "models/tokenizers/llama3-tokenizer.model";
  const fs::path gguf_path = fs::path(SharedDir()) / "models/vocab/ggml-vocab-llama-bpe.gguf";
  if (!fs::exists(model) || !fs::exists(gguf_path)) GTEST_SKIP() << "shared models not found";
  auto vocab = ImportTiktoken(model.string());
  ASSERT_TRUE(vocab.ok()) << vocab.status().ToString();
  auto file = gguf::File::Open(gguf_path.string());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(vocab->tokens, *file->GetStringArray("tokenizer.ggml.tokens"));
  EXPECT_EQ(vocab->merges, *file->GetStringArray("tokenizer.ggml.merges"));
  const auto types = *file->GetI32Array("tokenizer.ggml.token_type");
  ASSERT_EQ(types.size(), vocab->types.size());
  for (size_t i = 0; i < types.size(); ++i) ASSERT_EQ(types[i], static_cast<int32_t>(vocab->types[i])) << i;
  EXPECT_EQ(vocab->bos, 128000);
  EXPECT_EQ(vocab->eos, 128001);

  auto tokenizer = Tokenizer::Create(*std::move(vocab));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  const auto cases = ReadCases(fs::path(SharedDir()) / "models/vocab/ggml-vocab-llama-bpe.gguf.inp");
  const auto expected = ReadExpected(fs::path(SharedDir()) / "models/vocab/ggml-vocab-llama-bpe.gguf.out");
  ASSERT_EQ(cases.size(), expected.size());
  ASSERT_FALSE(cases.empty());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ((*tokenizer)->Encode(cases[i], false, false), expected[i]) << "case " << i;
  }
}

// --- tokenizer.json ---------------------------------------------------------------------------

constexpr const char* kTinyJson = R"({
  "added_tokens": [
    {"id": 5, "content": "<|endoftext|>", "special": true},
    {"id": 6, "content": "<tool>", "special": false}
  ],
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Digits", "individual_digits": true},
    {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]},
  "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120ab": 4},
            "merges": ["a b", ["\u0120", "ab"]]}
})";

TEST(ImportHf, ReadsVocabMergesAndAddedTokens) {
  auto vocab = ImportHfTokenizerJsonText(kTinyJson);
  ASSERT_TRUE(vocab.ok()) << vocab.status().ToString();
  EXPECT_EQ(vocab->kind, TokenizerKind::kBpe);
  EXPECT_EQ(vocab->pre, "smollm");
  EXPECT_EQ(vocab->size(), 7);
  EXPECT_EQ(vocab->tokens[4], "\xC4\xA0" "ab");
  EXPECT_EQ(vocab->merges, (std::vector<std::string>{"a b", "\xC4\xA0 ab"}));
  EXPECT_EQ(vocab->types[5], TokenType::kControl);
  EXPECT_EQ(vocab->types[6], TokenType::kUserDefined);
  EXPECT_EQ(vocab->bos, 5);
  EXPECT_EQ(vocab->eos, 5);
  auto tokenizer = Tokenizer::Create(*std::move(vocab));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  EXPECT_EQ((*tokenizer)->Encode("ab ab", false, false), (std::vector<int32_t>{2, 4}));
}

TEST(ImportHf, RejectsCorruptInput) {
  auto status = [](std::string_view text) { return ImportHfTokenizerJsonText(text).status(); };
  const Status bad_json = status("{\"model\": ");
  EXPECT_EQ(bad_json.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_json.message().find("not valid JSON"), std::string::npos);
  EXPECT_EQ(status("{}").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status("[1, 2]").code(), StatusCode::kInvalidArgument);
  const Status no_vocab = status(R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE"}})");
  EXPECT_EQ(no_vocab.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_vocab.message().find("vocab"), std::string::npos);
  EXPECT_EQ(status(R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": "x"},
                       "merges": []}})").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status(R"({"decoder": {"type": "ByteLevel"}, "pre_tokenizer": {"type": "ByteLevel"},
                       "model": {"type": "BPE", "vocab": {"a": 0}, "merges": [3]}})").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(status(R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}, "decoder": {"type": "ByteLevel"}})").code(),
            StatusCode::kUnimplemented);
  EXPECT_EQ(status(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                       "pre_tokenizer": {"type": "Metaspace"}, "decoder": {"type": "Metaspace"}})").code(),
            StatusCode::kUnimplemented);
}

TEST(ImportHf, SmolLm2) {
  const fs::path json = fs::path(SharedDir()) / "models/tokenizers/SmolLM2-135M-Instruct-tokenizer.json";
  if (!fs::exists(json)) GTEST_SKIP() << "shared tokenizer not found";
  auto vocab = ImportHfTokenizerJson(json.string());
  ASSERT_TRUE(vocab.ok()) << vocab.status().ToString();
  EXPECT_EQ(vocab->pre, "smollm");
  EXPECT_EQ(vocab->size(), 49152);
  EXPECT_EQ(vocab->merges.size(), 48900u);
  EXPECT_EQ(vocab->tokens[0], "<|endoftext|>");
  EXPECT_EQ(vocab->eot, 2);  // <|im_end|>
  auto tokenizer = Tokenizer::Create(*std::move(vocab));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  const Tokenizer& tok = **tokenizer;
  // model.vocab has "Hello": 19556 and "Ġworld": 905; digits are split one by one (Digits pre-step),
  // and the space before them stays alone ("1" = 33 ... "5" = 37 in model.vocab).
  EXPECT_EQ(tok.Encode("Hello world 12345", false, false),
            (std::vector<int32_t>{19556, 905, 216, 33, 34, 35, 36, 37}));
  EXPECT_EQ(tok.Encode("<|im_start|>", false, true), (std::vector<int32_t>{1}));
  const fs::path inp = fs::path(SharedDir()) / "models/vocab/ggml-vocab-gpt-2.gguf.inp";
  if (!fs::exists(inp)) return;
  for (const std::string& text : ReadCases(inp)) {
    const auto ids = tok.Encode(text, false, false);
    EXPECT_EQ(ids, tok.Encode(text, false, false));
    EXPECT_EQ(tok.Decode(ids), text);
  }
}

// --- detection --------------------------------------------------------------------------------

TEST(ImportVocab, DetectsKindByContent) {
  auto json = ImportVocabText(std::string("  \n") + kTinyJson);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(json->pre, "smollm");
  auto tiktoken = ImportVocabText("YQ== 0\nYg== 1\n");
  ASSERT_TRUE(tiktoken.ok()) << tiktoken.status().ToString();
  EXPECT_EQ(tiktoken->pre, "llama-bpe");
  const Status neither = ImportVocabText("hello there\n").status();
  EXPECT_EQ(neither.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(neither.message().find("unrecognized"), std::string::npos);
  EXPECT_EQ(ImportVocabText("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ImportVocabFile("/nonexistent/tokenizer.json").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace flotilla
