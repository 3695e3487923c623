// Vocab::FromGguf / ToGguf on GGUF files built in memory.
#include <gtest/gtest.h>

#include <span>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

namespace flotilla {
namespace {

// Keeps the bytes alive for the parsed File.
struct Parsed {
  std::string bytes;
  StatusOr<gguf::File> file = InternalError("unparsed");
};

void Build(const gguf::Writer& w, Parsed& out) {
  StatusOr<std::string> bytes = w.WriteToString();
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  out.bytes = std::move(*bytes);
  out.file = gguf::File::Parse(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(out.bytes.data()), out.bytes.size()));
  ASSERT_TRUE(out.file.ok()) << out.file.status().ToString();
}

gguf::Writer SpmWriter(int n_tokens = 8) {
  gguf::Writer w;
  w.Set("general.name", gguf::Value::String("tiny"));
  w.Set("tokenizer.ggml.model", gguf::Value::String("llama"));
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  while (static_cast<int>(tokens.size()) < n_tokens) tokens.push_back("t" + std::to_string(tokens.size()));
  std::vector<float> scores(tokens.size(), 0.0f);
  std::vector<int32_t> types(tokens.size(), 1);
  types[0] = 2, types[1] = 3, types[2] = 3;
  w.Set("tokenizer.ggml.tokens", gguf::Value::StringArray(tokens));
  w.Set("tokenizer.ggml.scores", gguf::Value::F32Array(scores));
  w.Set("tokenizer.ggml.token_type", gguf::Value::I32Array(types));
  return w;
}

TEST(VocabTest, SpmDefaults) {
  Parsed p;
  Build(SpmWriter(), p);
  StatusOr<Vocab> v = Vocab::FromGguf(*p.file);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->kind, TokenizerKind::kSpm);
  EXPECT_EQ(v->size(), 8);
  EXPECT_EQ(v->bos, 1);
  EXPECT_EQ(v->eos, 2);
  EXPECT_EQ(v->unk, 0);
  EXPECT_TRUE(v->add_bos);
  EXPECT_FALSE(v->add_eos);
  EXPECT_TRUE(v->add_space_prefix);
  EXPECT_EQ(v->types[1], TokenType::kControl);
  EXPECT_EQ(v->model_name, "tiny");
}

TEST(VocabTest, ExplicitKeysOverrideDefaults) {
  gguf::Writer w = SpmWriter();
  w.Set("tokenizer.ggml.bos_token_id", gguf::Value::U32(3));
  w.Set("tokenizer.ggml.eos_token_id", gguf::Value::U32(999));  // out of range: default kept
  w.Set("tokenizer.ggml.add_bos_token", gguf::Value::Bool(false));
  w.Set("tokenizer.ggml.add_space_prefix", gguf::Value::Bool(false));
  w.Set("tokenizer.chat_template", gguf::Value::String("{{ x }}"));
  Parsed p;
  Build(w, p);
  StatusOr<Vocab> v = Vocab::FromGguf(*p.file);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->bos, 3);
  EXPECT_EQ(v->eos, 2);
  EXPECT_FALSE(v->add_bos);
  EXPECT_FALSE(v->add_space_prefix);
  EXPECT_EQ(v->chat_template, "{{ x }}");
}

TEST(VocabTest, WpmDefaults) {
  gguf::Writer w;
  w.Set("tokenizer.ggml.model", gguf::Value::String("bert"));
  std::vector<std::string> tokens;
  for (int i = 0; i < 110; ++i) tokens.push_back("w" + std::to_string(i));
  w.Set("tokenizer.ggml.tokens", gguf::Value::StringArray(tokens));
  Parsed p;
  Build(w, p);
  StatusOr<Vocab> v = Vocab::FromGguf(*p.file);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->kind, TokenizerKind::kWpm);
  EXPECT_EQ(v->bos, 101);
  EXPECT_EQ(v->sep, 102);
  EXPECT_EQ(v->unk, 100);
  EXPECT_TRUE(v->add_sep);
  EXPECT_EQ(v->types.size(), 110u);  // kNormal when the file has none
}

TEST(VocabTest, MissingTokens) {
  gguf::Writer w;
  w.Set("tokenizer.ggml.model", gguf::Value::String("llama"));
  Parsed p;
  Build(w, p);
  StatusOr<Vocab> v = Vocab::FromGguf(*p.file);
  EXPECT_EQ(v.status().code(), StatusCode::kNotFound);
  EXPECT_NE(v.status().message().find("tokenizer.ggml.tokens"), std::string::npos);
}

TEST(VocabTest, MissingModel) {
  gguf::Writer w;
  Parsed p;
  Build(w, p);
  EXPECT_EQ(Vocab::FromGguf(*p.file).status().code(), StatusCode::kNotFound);
}

TEST(VocabTest, MismatchedLengths) {
  gguf::Writer w = SpmWriter();
  w.Set("tokenizer.ggml.scores", gguf::Value::F32Array(std::vector<float>(3, 0.0f)));
  Parsed p;
  Build(w, p);
  StatusOr<Vocab> v = Vocab::FromGguf(*p.file);
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("tokenizer.ggml.scores"), std::string::npos);

  gguf::Writer w2 = SpmWriter();
  w2.Set("tokenizer.ggml.token_type", gguf::Value::I32Array(std::vector<int32_t>(2, 1)));
  Parsed p2;
  Build(w2, p2);
  EXPECT_EQ(Vocab::FromGguf(*p2.file).status().code(), StatusCode::kInvalidArgument);
}

TEST(VocabTest, UnknownModel) {
  for (const char* model : {"no", "t5", "rwkv"}) {
    gguf::Writer w = SpmWriter();
    w.Set("tokenizer.ggml.model", gguf::Value::String(model));
    Parsed p;
    Build(w, p);
    StatusOr<Vocab> v = Vocab::FromGguf(*p.file);
    EXPECT_EQ(v.status().code(), StatusCode::kUnimplemented) << model;
    EXPECT_NE(v.status().message().find(std::string("'") + model + "'"), std::string::npos);
    EXPECT_NE(v.status().message().find("llama, gpt2, bert"), std::string::npos);
  }
}

TEST(VocabTest, DuplicateTokensAndWrongTypes) {
  gguf::Writer w = SpmWriter();
  w.Set("tokenizer.ggml.tokens", gguf::Value::StringArray({"<unk>", "<s>", "</s>", "a", "b", "a", "c", "d"}));
  Parsed p;
  Build(w, p);
  EXPECT_EQ(Vocab::FromGguf(*p.file).status().code(), StatusCode::kInvalidArgument);

  gguf::Writer w2 = SpmWriter();
  w2.Set("tokenizer.ggml.add_bos_token", gguf::Value::U32(1));
  Parsed p2;
  Build(w2, p2);
  EXPECT_EQ(Vocab::FromGguf(*p2.file).status().code(), StatusCode::kInvalidArgument);
}

TEST(VocabTest, BpeNeedsMerges) {
  gguf::Writer w = SpmWriter();
  w.Set("tokenizer.ggml.model", gguf::Value::String("gpt2"));
  Parsed p;
  Build(w, p);
  EXPECT_EQ(Vocab::FromGguf(*p.file).status().code(), StatusCode::kNotFound);
}

TEST(VocabTest, ToGgufRoundTrips) {
  Parsed p;
  Build(SpmWriter(), p);
  StatusOr<Vocab> v = Vocab::FromGguf(*p.file);
  ASSERT_TRUE(v.ok());
  v->add_eos = true;
  v->chat_template = "t";
  gguf::Writer w;
  v->ToGguf(w);
  Parsed p2;
  Build(w, p2);
  StatusOr<Vocab> back = Vocab::FromGguf(*p2.file);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->kind, v->kind);
  EXPECT_EQ(back->tokens, v->tokens);
  EXPECT_EQ(back->scores, v->scores);
  EXPECT_EQ(back->types, v->types);
  EXPECT_EQ(back->bos, v->bos);
  EXPECT_EQ(back->eos, v->eos);
  EXPECT_EQ(back->unk, v->unk);
  EXPECT_EQ(back->add_bos, v->add_bos);
  EXPECT_EQ(back->add_eos, v->add_eos);
  EXPECT_EQ(back->add_space_prefix, v->add_space_prefix);
  EXPECT_EQ(back->chat_template, v->chat_template);
}

}  // namespace
}  // namespace flotilla
