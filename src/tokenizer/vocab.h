// A tokenizer vocabulary as GGUF stores it (tokenizer.ggml.* keys), independent of the algorithm.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/status.h"
#include "gguf/gguf.h"

namespace flotilla {

// tokenizer.ggml.model: "llama" -> kSpm, "gpt2" -> kBpe, "bert" -> kWpm.
enum class TokenizerKind { kSpm, kBpe, kWpm };

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct Vocab {
  TokenizerKind kind = TokenizerKind::kSpm;
  std::string pre = "default";        // tokenizer.ggml.pre (BPE pre-tokenizer name)
  std::vector<std::string> tokens;    // id -> token text (BPE: byte-level encoded; SPM: with U+2581)
  std::vector<float> scores;          // empty or one per token
  std::vector<TokenType> types;       // one per token (kNormal when the file has none)
  std::vector<std::string> merges;    // BPE only: "left right", highest priority first

  int32_t bos = -1, eos = -1, unk = -1, pad = -1, sep = -1, cls = -1, mask = -1;
  int32_t eot = -1, eom = -1;         // end of turn / message, when the model names them
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;      // SPM: prepend a space to the text
  bool add_sep = false;               // WPM (and some BPE): sep ends the sequence (llama.cpp's add_sep)
  bool clean_spaces = false;          // Decode drops spaces before ?!., and some contractions
  // general.name / general.architecture: llama.cpp sets per-token strip attributes from them (phi-3:
  // special tokens eat the whitespace that follows them).
  std::string model_name;
  std::string architecture;
  std::optional<std::string> chat_template;  // tokenizer.chat_template

  int32_t size() const { return static_cast<int32_t>(tokens.size()); }

  // Reads tokenizer.ggml.* (and tokenizer.chat_template) with llama.cpp's defaults for absent keys.
  // Errors name the key: missing token list, arrays shorter than the token list, a wrong type,
  // duplicate tokens, add_bos/add_eos without the id, unknown model. A special id outside the vocab
  // keeps the per-model default, as llama.cpp does (a default outside the vocab becomes -1).
  // When tokenizer.ggml.eot_token_id / eom_token_id are absent they are found by text as llama.cpp
  // does ("<|eot_id|>", "<|im_end|>", ...).
  static StatusOr<Vocab> FromGguf(const gguf::File& file);
  // Writes the same keys (for vocab-only files and for models we create).
  void ToGguf(gguf::Writer& writer) const;
};

}  // namespace flotilla
