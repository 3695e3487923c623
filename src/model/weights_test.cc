// Where a loaded model's embedding table lives: off the file's pages, the same bytes.
#include "model/weights.h"

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/matmul.h"
#include "kernels/repack.h"
#include "model/model.h"
#include "model/test_model.h"

namespace flotilla {
namespace {

// A stories260k-shaped random model whose output head is the embedding table (no output.weight).
std::string TiedModelPath() {
  const std::filesystem::path path = std::filesystem::path(testutil::TinyModelPath()).parent_path() / "tied.gguf";
  if (!std::filesystem::exists(path)) {
    StatusOr<ModelConfig> config = GetPreset("stories260k", Arch::kLlama);
    CHECK(config.ok());
    config->tied_output = true;
    StatusOr<Vocab> vocab = TrainSpmVocab(testutil::kTinyModelText, {.vocab_size = config->n_vocab});
    CHECK(vocab.ok());
    CHECK(WriteRandomModel(*config, *vocab, {.init_std = 0.1f}, path.string()).ok());
  }
  return path.string();
}

// The table is a copy (on huge pages) with the file's bytes; a tied output head reads the same copy,
// an untied one its own tensor in the file. Where the matmul kernels read interleaved copies, a tied
// table is not copied: its rows come from the head's interleaved copy, the same floats.
TEST(Weights, EmbeddingTableIsACopyOfTheFilesBytes) {
  const std::vector<std::string> paths = {testutil::TinyModelPath(Arch::kLlama), testutil::TinyModelPath(Arch::kQwen2),
                                          TiedModelPath()};
  for (const std::string& path : paths) {
    StatusOr<std::unique_ptr<Model>> model = Model::Load(path);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    const ModelWeights& w = (*model)->weights();
    const gguf::TensorInfo* in_file = (*model)->file().FindTensor("token_embd.weight");
    ASSERT_NE(in_file, nullptr);
    ASSERT_EQ(static_cast<uint64_t>(w.token_embd.n_rows()) * w.token_embd.row_bytes(), in_file->n_bytes);
    if (w.token_embd.rows16 != nullptr) {
      ASSERT_TRUE((*model)->config().tied_output) << path;
      EXPECT_EQ(w.token_embd.rows16, w.output.rows16) << path;
      EXPECT_EQ(w.token_embd.data, in_file->data) << path;  // no copy of the table
      std::vector<float> from_copy(w.token_embd.row_len()), from_file(w.token_embd.row_len());
      for (int32_t token = 0; token < w.token_embd.n_rows(); ++token) {
        EmbedToken(w, token, from_copy.data());
        GetRow(w.token_embd, token, from_file.data());
        ASSERT_EQ(std::memcmp(from_copy.data(), from_file.data(), from_file.size() * sizeof(float)), 0) << token;
      }
      continue;
    }
    EXPECT_NE(w.token_embd.data, in_file->data) << path;
    EXPECT_EQ(std::memcmp(w.token_embd.data, in_file->data, in_file->n_bytes), 0) << path;
    if ((*model)->config().tied_output) {
      EXPECT_EQ(w.output.data, w.token_embd.data) << path;
    } else {
      EXPECT_EQ(w.output.data, (*model)->file().FindTensor("output.weight")->data) << path;
    }
  }
  StatusOr<std::unique_ptr<Model>> tied = Model::Load(TiedModelPath());
  ASSERT_TRUE(tied.ok());
  EXPECT_TRUE((*tied)->config().tied_output);
  // The tied table's rows come from the head's copy wherever the kernels read interleaved weights.
  EXPECT_EQ((*tied)->weights().token_embd.rows16 != nullptr, InterleavedKernelsAvailable());
}

}  // namespace
}  // namespace flotilla
