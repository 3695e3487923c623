// Fuzzes the tokenizers: any bytes, with every combination of add_special / parse_special, through
// SPM, byte-level BPE and WordPiece vocabs. Ids must stay in range and decoding must not crash.
// Vocabs: one SPM vocab learned here; with $FLOTILLA_SHARED set, also llama.cpp's golden vocabs.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_trainer.h"

namespace {

std::vector<std::unique_ptr<flotilla::Tokenizer>>& Tokenizers() {
  static auto* tokenizers = [] {
    auto* list = new std::vector<std::unique_ptr<flotilla::Tokenizer>>();
    auto vocab = flotilla::TrainSpmVocab("the boat and the harbor and the sea <s> </s> the boats", {.vocab_size = 300});
    if (vocab.ok()) {
      auto tok = flotilla::Tokenizer::Create(*vocab);
      if (tok.ok()) list->push_back(std::move(*tok));
    }
    const char* shared = std::getenv("FLOTILLA_SHARED");
    if (shared && *shared) {
      for (const char* name : {"llama-spm", "gpt-2", "llama-bpe", "qwen2", "bert-bge", "phi-3"}) {
        auto file = flotilla::gguf::File::Open(std::string(shared) + "/models/vocab/ggml-vocab-" + name + ".gguf");
        if (!file.ok()) continue;
        auto tok = flotilla::Tokenizer::FromGguf(*file);
        if (tok.ok()) list->push_back(std::move(*tok));
      }
    }
    return list;
  }();
  return *tokenizers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& tok : Tokenizers()) {
    for (int flags = 0; flags < 4; ++flags) {
      std::vector<int32_t> ids = tok->Encode(text, flags & 1, flags & 2);
      for (int32_t id : ids) {
        if (id < 0 || id >= tok->n_vocab()) __builtin_trap();
      }
      (void)tok->Decode(ids, flags & 1);
    }
  }
  return 0;
}
