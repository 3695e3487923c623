// Perplexity as llama.cpp's llama-perplexity computes it: the token stream is cut into chunks of
// n_ctx tokens, each chunk starts with BOS (when the vocab adds one) and only its second half is
// scored (every prediction there has at least n_ctx/2 tokens of context).
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "flotilla/status.h"
#include "model/context.h"

namespace flotilla {

struct PerplexityResult {
  double perplexity = 0.0;
  double perplexity_error = 0.0;  // one standard error, as llama.cpp prints after "+/-"
  int32_t n_chunks = 0;
  int64_t n_scored = 0;           // predictions scored
};

// ctx must hold n_chunk tokens. INVALID_ARGUMENT when the text has fewer than 2 * n_chunk tokens
// (llama.cpp's minimum) or n_chunk < 4. on_chunk(i, n_chunks, running perplexity) after each chunk;
// `cancel` stops between chunks (CANCELLED).
StatusOr<PerplexityResult> ComputePerplexity(
    Context& ctx, std::span<const int32_t> tokens, int32_t n_chunk,
    const std::function<void(int32_t, int32_t, double)>& on_chunk = nullptr,
    const std::atomic<bool>* cancel = nullptr);

}  // namespace flotilla
