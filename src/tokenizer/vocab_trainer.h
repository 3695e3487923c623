// Learns a SentencePiece-style BPE vocab (tokenizer.ggml.model = "llama") from plain text, for the
// models flotilla creates itself. The vocab holds <unk>, <s>, </s>, the 256 byte-fallback tokens,
// every character seen at least `min_frequency` times, then merged pieces in the order learned;
// a piece's score is higher the earlier it was learned, which is the order SPM encoding merges in.
#pragma once

#include <cstdint>
#include <string_view>

#include "flotilla/status.h"
#include "tokenizer/vocab.h"

namespace flotilla {

struct VocabTrainerOptions {
  int32_t vocab_size = 512;   // exact size of the result; unused slots become <unused_N> tokens
  int32_t min_frequency = 2;  // a character or pair seen fewer times is not learned
};

// INVALID_ARGUMENT when vocab_size cannot hold the 259 fixed tokens.
StatusOr<Vocab> TrainSpmVocab(std::string_view text, const VocabTrainerOptions& options);

}  // namespace flotilla
