#include "model/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace flotilla {

StatusOr<PerplexityResult> ComputePerplexity(Context& ctx, std::span<const int32_t> tokens, int32_t n_chunk,
                                             const std::function<void(int32_t, int32_t, double)>& on_chunk,
                                             const std::atomic<bool>* cancel) {
  if (n_chunk < 4) return InvalidArgumentError("the perplexity context must be at least 4 tokens");
  if (n_chunk > ctx.n_ctx()) {
    return InvalidArgumentError("chunk of " + std::to_string(n_chunk) + " tokens exceeds the context of " +
                                std::to_string(ctx.n_ctx()));
  }
  if (static_cast<int64_t>(tokens.size()) < 2 * static_cast<int64_t>(n_chunk)) {
    return InvalidArgumentError("the text has " + std::to_string(tokens.size()) + " tokens; at least " +
                                std::to_string(2 * n_chunk) + " are needed for a context of " +
                                std::to_string(n_chunk));
  }
  const Vocab& vocab = ctx.model().tokenizer().vocab();
  const int32_t n_vocab = vocab.size();
  const int32_t n_chunks = static_cast<int32_t>(tokens.size() / n_chunk);
  const int32_t first = n_chunk / 2;
  PerplexityResult result;
  double nll = 0.0, nll2 = 0.0;
  std::vector<int32_t> chunk(static_cast<size_t>(n_chunk));
  for (int32_t c = 0; c < n_chunks; ++c) {
    if (cancel && cancel->load()) return Status(StatusCode::kCancelled, "interrupted");
    std::copy_n(tokens.begin() + static_cast<std::ptrdiff_t>(c) * n_chunk, n_chunk, chunk.begin());
    if (vocab.add_bos && vocab.bos >= 0) chunk[0] = vocab.bos;
    ctx.Truncate(0);
    ASSIGN_OR_RETURN(std::span<const float> logits, ctx.Eval(chunk, /*all_logits=*/true));
    for (int32_t j = first; j < n_chunk - 1; ++j) {
      const float* row = logits.data() + static_cast<size_t>(j) * n_vocab;
      const float max = *std::max_element(row, row + n_vocab);
      double sum = 0.0;
      for (int32_t v = 0; v < n_vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - max);
      const double token_nll = std::log(sum) - (row[chunk[j + 1]] - max);
      nll += token_nll;
      nll2 += token_nll * token_nll;
      ++result.n_scored;
    }
    result.n_chunks = c + 1;
    if (on_chunk) on_chunk(c, n_chunks, std::exp(nll / result.n_scored));
  }
  const double mean = nll / result.n_scored;
  const double var = std::max(0.0, nll2 / result.n_scored - mean * mean);
  result.perplexity = std::exp(mean);
  result.perplexity_error = result.perplexity * std::sqrt(var / std::max<int64_t>(1, result.n_scored - 1));
  return result;
}

}  // namespace flotilla
