// The algorithm of one tokenizer family (SPM, BPE, WordPiece) behind a common interface.
// The Tokenizer facade (tokenizer.h) handles special tokens, BOS/EOS and decoding of special
// tokens; a Codec only turns plain text into normal tokens and normal tokens back into bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"
#include "tokenizer/vocab.h"

namespace flotilla {

class Codec {
 public:
  virtual ~Codec() = default;
  // Appends the ids of `text` (a fragment between special tokens) to `out`. `after_special` is true
  // for the first fragment and for one that follows a special token (SPM adds its space prefix then).
  // Must not crash on any bytes, including invalid UTF-8.
  virtual void Encode(std::string_view text, bool after_special, std::vector<int32_t>& out) const = 0;
  // The bytes that token `id` stands for in decoded text (byte tokens -> their byte, U+2581 -> ' ',
  // byte-level BPE characters -> their bytes).
  virtual std::string DecodeToken(int32_t id) const = 0;
};

// Factories; each validates what its algorithm needs from the vocab.
StatusOr<std::unique_ptr<Codec>> CreateSpmCodec(const Vocab& vocab);
StatusOr<std::unique_ptr<Codec>> CreateBpeCodec(const Vocab& vocab);
StatusOr<std::unique_ptr<Codec>> CreateWpmCodec(const Vocab& vocab);

}  // namespace flotilla
