// A loaded llama-family model: the mapped GGUF file, its config, weights and tokenizer. Immutable
// once loaded, so several Contexts (sequences) can share it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "flotilla/status.h"
#include "gguf/gguf.h"
#include "model/config.h"
#include "model/lora.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace flotilla {

class Model {
 public:
  // Maps and validates `path`. Errors name the file and what is wrong (unsupported architecture,
  // missing tensor, wrong shape).
  static StatusOr<std::unique_ptr<Model>> Load(const std::string& path);
  // The same, with LoRA adapters merged into the weights they adapt (those become F32 copies the
  // model owns; the rest stay mapped). Adapter errors name the adapter file.
  static StatusOr<std::unique_ptr<Model>> Load(const std::string& path, const std::vector<LoraAdapterSpec>& adapters);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const gguf::File& file() const { return file_; }

 private:
  Model(gguf::File file) : file_(std::move(file)) {}
  gguf::File file_;
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<std::vector<float>> lora_merged_;  // F32 weights with adapters merged in
  HugePageBuffer interleaved_;                  // the matrices' 16-row interleaved copies (TensorView::rows16)
  HugePageBuffer token_embd_;                   // the embedding table, off the file's pages
};

}  // namespace flotilla
