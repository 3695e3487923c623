// The per-tensor types QuantizeModel chooses, against llama.cpp's rules for the output head.
#include "model/quantize.h"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "base/file_util.h"
#include "gguf/gguf.h"
#include "model/test_model.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;

// A random stories260k-shaped model with rows of n_embd elements, tied (no output.weight) or not.
std::string WriteModel(int32_t n_embd, bool tied) {
  StatusOr<ModelConfig> config = GetPreset("stories260k", Arch::kLlama);
  CHECK(config.ok());
  config->n_embd = n_embd;
  config->tied_output = tied;
  StatusOr<Vocab> vocab = TrainSpmVocab(testutil::kTinyModelText, {.vocab_size = config->n_vocab});
  CHECK(vocab.ok());
  const fs::path path = fs::path(testutil::TinyModelPath()).parent_path() /
                        ("quantize-" + std::to_string(n_embd) + (tied ? "-tied" : "") + ".gguf");
  CHECK(WriteRandomModel(*config, *vocab, {}, path.string()).ok());
  return path.string();
}

// "token_embd.weight's type / output.weight's type" ("-" when absent) after quantizing to `type`.
std::string HeadTypes(const std::string& in, const std::string& type, bool pure = false) {
  const std::string out = in + "." + type + ".gguf";
  const Status s = QuantizeModel(in, out, type, {.pure = pure, .n_threads = 0, .on_tensor = nullptr});
  CHECK(s.ok());
  StatusOr<gguf::File> file = gguf::File::Open(out);
  CHECK(file.ok());
  const gguf::TensorInfo* output = file->FindTensor("output.weight");
  return std::string(DTypeName(file->FindTensor("token_embd.weight")->dtype)) + " / " +
         (output ? std::string(DTypeName(output->dtype)) : "-");
}

TEST(Quantize, TiedEmbeddingTableTakesTheOutputHeadsType) {
  const std::string tied = WriteModel(256, true), untied = WriteModel(256, false);
  // llama.cpp: the output head is Q6_K in the K mixes and the legacy types, the table of a model
  // without output.weight included; the other matrices keep the mix's type.
  EXPECT_EQ(HeadTypes(tied, "Q4_K_M"), "q6_K / -");
  EXPECT_EQ(HeadTypes(untied, "Q4_K_M"), "q4_K / q6_K");
  EXPECT_EQ(HeadTypes(tied, "Q4_0"), "q6_K / -");
  EXPECT_EQ(HeadTypes(tied, "Q8_0"), "q8_0 / -");
  EXPECT_EQ(HeadTypes(tied, "Q4_K_M", /*pure=*/true), "q4_K / -");
  // Rows that are not whole 256-element blocks: Q8_0 for the head, as llama.cpp.
  EXPECT_EQ(HeadTypes(WriteModel(64, true), "Q4_K_M"), "q8_0 / -");
}

// Rows are quantized across a pool: the files are the same whatever the thread count, for
// QuantizeModel and for WriteRandomModel (init --random).
TEST(Quantize, ThreadCountDoesNotChangeTheFile) {
  const std::string in = WriteModel(256, false);
  const auto quantized = [&](int n_threads) {
    const std::string out = in + ".t" + std::to_string(n_threads) + ".gguf";
    CHECK(QuantizeModel(in, out, "Q4_0", {.n_threads = n_threads, .on_tensor = {}}).ok());
    return *ReadFileToString(out);
  };
  EXPECT_EQ(quantized(1), quantized(3));

  StatusOr<ModelConfig> config = GetPreset("stories260k", Arch::kLlama);
  ASSERT_TRUE(config.ok());
  config->n_embd = 256;
  config->n_ff = 512;  // every row a whole number of Q4_K blocks
  config->n_layer = 1;
  StatusOr<Vocab> vocab = TrainSpmVocab(testutil::kTinyModelText, {.vocab_size = config->n_vocab});
  ASSERT_TRUE(vocab.ok());
  const auto random = [&](int n_threads) {
    const std::string out = in + ".random-t" + std::to_string(n_threads) + ".gguf";
    CHECK(WriteRandomModel(*config, *vocab, {.dtype = DType::kQ4_K, .n_threads = n_threads}, out).ok());
    return *ReadFileToString(out);
  };
  EXPECT_EQ(random(1), random(3));
}

}  // namespace
}  // namespace flotilla
