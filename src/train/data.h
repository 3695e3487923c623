// Training data as token streams: plain text (one packed stream, windows sampled at random offsets)
// or JSONL chat/instruction examples (one example per row, padded; the loss counts only the answer
// tokens). Batches are a pure function of (seed, step, micro-batch), so a resumed run sees exactly
// the batches an uninterrupted one would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flotilla/status.h"
#include "tokenizer/tokenizer.h"

namespace flotilla::train {

struct TokenData {
  std::vector<int32_t> tokens;
  // Per token: whether it counts as a target (answer tokens of chat data). Empty: all count.
  std::vector<uint8_t> counted;
  // Example mode: each example is tokens[starts[i], starts[i + 1]) (a final sentinel = size), placed
  // at the start of its own row. Empty: a packed stream.
  std::vector<int64_t> starts;

  bool examples() const { return !starts.empty(); }
  int64_t n_examples() const { return examples() ? static_cast<int64_t>(starts.size()) - 1 : 0; }
};

struct Batch {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> tokens;   // [batch, seq]
  std::vector<int32_t> targets;  // [batch, seq], -1: not counted
};

// Tokenizes a plain-text file into one stream (BOS as the vocab adds it). INVALID_ARGUMENT for an
// empty file or text that is not UTF-8 ... the caller checks the size against the context.
StatusOr<TokenData> LoadTextData(const std::string& path, const Tokenizer& tokenizer);
// JSONL, one example a line: {"messages": [{"role": ..., "content": ...}, ...]} (the answer is the
// last assistant message), or {"prompt"|"instruction"|"question": ..., "response"|"output"|"answer": ...}.
// The vocab's chat template renders the conversation; only the answer's tokens are counted.
// INVALID_ARGUMENT naming the line for malformed JSON, a missing field, or an example longer than
// max_tokens (the context + 1).
StatusOr<TokenData> LoadChatData(const std::string& path, const Tokenizer& tokenizer, int64_t max_tokens);

// Splits off the last `fraction` of the stream (or of the examples) as validation data.
// INVALID_ARGUMENT when either part would be too small for one row of seq + 1 tokens.
Status SplitData(TokenData data, double fraction, int64_t seq, TokenData* train, TokenData* val);

// The training batch of (seed, step, micro): random windows (stream) or random examples.
Batch SampleBatch(const TokenData& data, int64_t batch, int64_t seq, uint64_t seed, int64_t step, int64_t micro);
// Validation batches: consecutive windows (or examples) from the start, `index`-th batch of them;
// returns false when there is no more data.
bool EvalBatch(const TokenData& data, int64_t batch, int64_t seq, int64_t index, Batch* out);

}  // namespace flotilla::train
