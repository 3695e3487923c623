// Test helper: writes a tiny random llama model (stories260k shape, vocab learned from a fixed
// text) into a temporary directory, so model tests need nothing from outside the repository.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "model/random_model.h"
#include "tokenizer/vocab_trainer.h"

namespace flotilla::testutil {

inline constexpr char kTinyModelText[] =
    "the boat and the harbor and the boat and the sea. the boats know the way and the boats ask "
    "when they are unsure. the small boat carried bread to the lighthouse before dawn.";

// Path of a stories260k-shaped random model of `arch` (written once per process and arch).
inline std::string TinyModelPath(Arch arch = Arch::kLlama) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("flotilla_model_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path path = dir / (std::string(ArchName(arch)) + ".gguf");
  if (!fs::exists(path)) {
    StatusOr<ModelConfig> config = GetPreset("stories260k", arch);
    CHECK(config.ok());
    StatusOr<Vocab> vocab = TrainSpmVocab(kTinyModelText, {.vocab_size = config->n_vocab});
    CHECK(vocab.ok());
    CHECK(WriteRandomModel(*config, *vocab, {.init_std = 0.1f}, path.string()).ok());
  }
  return path.string();
}

}  // namespace flotilla::testutil
