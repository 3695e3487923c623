#include "train/data.h"

#include <random>

#include "base/file_util.h"

namespace flotilla::train {
namespace {

// Row r of `b` from the stream window starting at `offset` (seq + 1 tokens must exist).
void FillWindow(const TokenData& d, int64_t offset, int64_t seq, int64_t r, Batch* b) {
  for (int64_t t = 0; t < seq; ++t) {
    b->tokens[r * seq + t] = d.tokens[offset + t];
    const bool counted = d.counted.empty() || d.counted[offset + t + 1];
    b->targets[r * seq + t] = counted ? d.tokens[offset + t + 1] : -1;
  }
}

// Row r from example i: its tokens, then padding (token 0, not counted).
void FillExample(const TokenData& d, int64_t i, int64_t seq, int64_t r, Batch* b) {
  const int64_t begin = d.starts[i], len = d.starts[i + 1] - begin;
  for (int64_t t = 0; t < seq; ++t) {
    const bool has_next = t + 1 < len;
    b->tokens[r * seq + t] = t < len ? d.tokens[begin + t] : 0;
    b->targets[r * seq + t] = has_next && (d.counted.empty() || d.counted[begin + t + 1]) ? d.tokens[begin + t + 1] : -1;
  }
}

Batch NewBatch(int64_t batch, int64_t seq) {
  Batch b;
  b.batch = batch, b.seq = seq;
  b.tokens.assign(static_cast<size_t>(batch * seq), 0);
  b.targets.assign(static_cast<size_t>(batch * seq), -1);
  return b;
}

}  // namespace

StatusOr<TokenData> LoadTextData(const std::string& path, const Tokenizer& tokenizer) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  if (text.empty()) return InvalidArgumentError("training data " + path + " is empty");
  TokenData d;
  d.tokens = tokenizer.Encode(text, /*add_special=*/true, /*parse_special=*/false);
  return d;
}

Status SplitData(TokenData data, double fraction, int64_t seq, TokenData* train, TokenData* val) {
  if (fraction <= 0.0 || fraction >= 1.0) return InvalidArgumentError("--val-fraction must be in (0, 1)");
  if (data.examples()) {
    const int64_t n = data.n_examples();
    const int64_t n_val = std::max<int64_t>(1, static_cast<int64_t>(n * fraction));
    if (n - n_val < 1) {
      return InvalidArgumentError("the data has " + std::to_string(n) + " examples; at least 2 are needed (train + validation)");
    }
    const int64_t cut = data.starts[n - n_val];
    for (TokenData* part : {train, val}) *part = {};
    train->tokens.assign(data.tokens.begin(), data.tokens.begin() + cut);
    val->tokens.assign(data.tokens.begin() + cut, data.tokens.end());
    train->counted.assign(data.counted.begin(), data.counted.begin() + cut);
    val->counted.assign(data.counted.begin() + cut, data.counted.end());
    train->starts.assign(data.starts.begin(), data.starts.begin() + (n - n_val) + 1);
    for (int64_t i = n - n_val; i <= n; ++i) val->starts.push_back(data.starts[i] - cut);
    return Status::Ok();
  }
  const int64_t n = static_cast<int64_t>(data.tokens.size());
  const int64_t n_val = std::max<int64_t>(seq + 1, static_cast<int64_t>(n * fraction));
  if (n - n_val < seq + 1) {
    return InvalidArgumentError("the data has " + std::to_string(n) + " tokens; training with context " +
                                std::to_string(seq) + " and a validation split needs at least " +
                                std::to_string(2 * (seq + 1)));
  }
  *train = {}, *val = {};
  train->tokens.assign(data.tokens.begin(), data.tokens.end() - n_val);
  val->tokens.assign(data.tokens.end() - n_val, data.tokens.end());
  if (!data.counted.empty()) {
    train->counted.assign(data.counted.begin(), data.counted.end() - n_val);
    val->counted.assign(data.counted.end() - n_val, data.counted.end());
  }
  return Status::Ok();
}

Batch SampleBatch(const TokenData& data, int64_t batch, int64_t seq, uint64_t seed, int64_t step, int64_t micro) {
  // One generator per (seed, step, micro), so batches do not depend on what ran before.
  std::seed_seq seq_seed{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                         static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32), static_cast<uint32_t>(micro)};
  std::mt19937_64 rng(seq_seed);
  Batch b = NewBatch(batch, seq);
  for (int64_t r = 0; r < batch; ++r) {
    if (data.examples()) {
      FillExample(data, static_cast<int64_t>(rng() % static_cast<uint64_t>(data.n_examples())), seq, r, &b);
    } else {
      const uint64_t span = static_cast<uint64_t>(data.tokens.size()) - static_cast<uint64_t>(seq);  // >= 1
      FillWindow(data, static_cast<int64_t>(rng() % span), seq, r, &b);
    }
  }
  return b;
}

bool EvalBatch(const TokenData& data, int64_t batch, int64_t seq, int64_t index, Batch* out) {
  *out = NewBatch(batch, seq);
  const int64_t first = index * batch;
  int64_t filled = 0;
  for (int64_t r = 0; r < batch; ++r) {
    const int64_t i = first + r;
    if (data.examples()) {
      if (i >= data.n_examples()) break;
      FillExample(data, i, seq, r, out);
    } else {
      if ((i + 1) * seq + 1 > static_cast<int64_t>(data.tokens.size())) break;
      FillWindow(data, i * seq, seq, r, out);
    }
    ++filled;
  }
  return filled > 0;
}

}  // namespace flotilla::train
