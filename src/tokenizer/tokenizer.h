// Text <-> token ids, exactly as llama.cpp tokenizes for the same GGUF vocab.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"
#include "gguf/gguf.h"
#include "tokenizer/codec.h"
#include "tokenizer/vocab.h"

namespace flotilla {

class Tokenizer {
 public:
  static StatusOr<std::unique_ptr<Tokenizer>> Create(Vocab vocab);
  static StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const gguf::File& file);

  // add_special: add BOS/EOS as the vocab says (llama.cpp's add_special).
  // parse_special: special and added tokens written in the text become their ids.
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;
  // The text of one token; control tokens render as their text only when render_special.
  std::string TokenToPiece(int32_t id, bool render_special = true) const;
  // Concatenated pieces (SPM drops the leading space that add_space_prefix added, as llama.cpp does
  // when decoding from the start of a sequence). Ids outside the vocab decode to nothing.
  std::string Decode(std::span<const int32_t> ids, bool render_special = true) const;

  const Vocab& vocab() const { return vocab_; }
  int32_t n_vocab() const { return vocab_.size(); }
  // True for tokens that end generation (llama.cpp's EOG set: eos, eot, eom and tokens such as
  // "<|im_end|>" or "<end_of_turn>" found by text).
  bool IsEog(int32_t id) const;

 private:
  // A fragment of the text being encoded: raw bytes [offset, offset + length) or a token id.
  struct Fragment {
    int32_t token = -1;  // >= 0: a special/added token
    size_t offset = 0;
    size_t length = 0;
  };

  Tokenizer(Vocab vocab, std::unique_ptr<Codec> codec);
  void InitAttributes();
  void InitStripAttributes(const std::function<int32_t(std::string_view)>& find);
  void Partition(std::string_view text, bool parse_special, std::vector<Fragment>& fragments) const;

  Vocab vocab_;
  std::unique_ptr<Codec> codec_;
  std::vector<uint32_t> attrs_;       // per token: llama.cpp's attribute bits (tokenizer.cc)
  std::vector<int32_t> special_ids_;  // tokens matched in text before the codec runs, longest first
  std::vector<int32_t> eog_ids_;      // sorted
};

}  // namespace flotilla
