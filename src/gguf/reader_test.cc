// Reader tests on handcrafted bytes and on the shared model files.
#include <gtest/gtest.h>

#include <filesystem>

#include "gguf/gguf.h"
#include "gguf/test_bytes.h"

namespace flotilla::gguf {
namespace {

using testing::ByteBuilder;
using testutil::SharedDir;

ByteBuilder SmallFile(uint32_t version = 3) {
  ByteBuilder b;
  b.Header(/*n_tensors=*/2, /*n_kv=*/3, version);
  b.KvStr("general.architecture", "llama");
  b.KvU32("llama.context_length", 128);
  b.Str("tokenizer.ggml.tokens").U32(9).U32(8).U64(2).Str("<s>").Str("a");
  b.TensorInfo("w", {4, 2}, /*f32=*/0, 0);
  b.TensorInfo("v", {3}, /*f32=*/0, 32);
  b.PadTo(32);
  for (int i = 0; i < 8; ++i) b.F32(static_cast<float>(i));
  b.Zeros(0);
  for (int i = 0; i < 3; ++i) b.F32(10.0f + i);
  b.PadTo(32);
  return b;
}

TEST(ReaderTest, ParsesHandcraftedFile) {
  for (uint32_t version : {2u, 3u}) {
    ByteBuilder b = SmallFile(version);
    StatusOr<File> f = File::Parse(b.span());
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(f->version(), version);
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->metadata().size(), 3u);
    EXPECT_EQ(*f->GetString("general.architecture"), "llama");
    EXPECT_EQ(*f->GetUint("llama.context_length"), 128u);
    EXPECT_EQ(*f->GetInt("llama.context_length"), 128);
    auto tokens = f->GetStringArray("tokenizer.ggml.tokens");
    ASSERT_TRUE(tokens.ok());
    EXPECT_EQ(*tokens, (std::vector<std::string>{"<s>", "a"}));
    ASSERT_EQ(f->tensors().size(), 2u);
    const TensorInfo* w = f->FindTensor("w");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->shape, (std::vector<int64_t>{4, 2}));
    EXPECT_EQ(w->n_elements(), 8);
    EXPECT_EQ(w->n_bytes, 32u);
    EXPECT_EQ(w->data, b.bytes().data() + f->data_offset());
    float x;
    std::memcpy(&x, f->FindTensor("v")->data + 8, 4);
    EXPECT_EQ(x, 12.0f);
    EXPECT_EQ(f->FindTensor("nope"), nullptr);
  }
}

TEST(ReaderTest, GetterErrors) {
  ByteBuilder b = SmallFile();
  StatusOr<File> f = File::Parse(b.span());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->GetString("missing").status().code(), StatusCode::kNotFound);
  Status s = f->GetString("llama.context_length").status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("llama.context_length"), std::string::npos) << s.message();
  EXPECT_EQ(f->GetF32Array("tokenizer.ggml.tokens").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(f->GetBool("general.architecture").status().code(), StatusCode::kInvalidArgument);
}

TEST(ReaderTest, OpenNamesPathOnError) {
  StatusOr<File> f = File::Open("/nonexistent/x.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("/nonexistent/x.gguf"), std::string::npos);
}

TEST(ReaderTest, OpensSharedModels) {
  std::string dir = SharedDir();
  std::filesystem::path p = std::filesystem::path(dir) / "models/stories260K/stories260K-f32.gguf";
  if (dir.empty() || !std::filesystem::exists(p)) GTEST_SKIP() << "shared model not found: " << p;
  StatusOr<File> f = File::Open(p.string());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(*f->GetString("general.architecture"), "llama");
  EXPECT_GT(f->tensors().size(), 0u);
  EXPECT_TRUE(f->GetStringArray("tokenizer.ggml.tokens").ok());
  for (const TensorInfo& t : f->tensors()) {
    EXPECT_EQ(t.dtype, DType::kF32) << t.name;
    EXPECT_EQ(t.n_bytes, static_cast<uint64_t>(t.n_elements()) * 4) << t.name;
  }
  File moved = std::move(*f);
  EXPECT_NE(moved.FindTensor(moved.tensors()[0].name), nullptr);
}

}  // namespace
}  // namespace flotilla::gguf
