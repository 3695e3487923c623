// Autoregressive generation: evaluate the prompt, then sample and evaluate one token at a time,
// streaming text to a callback, until max_tokens, an end-of-generation token, a stop string, a full
// context, or cancellation.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"
#include "model/context.h"
#include "model/sampler.h"

namespace flotilla {

struct GenerateOptions {
  int32_t max_tokens = -1;          // -1: until the context is full
  std::vector<std::string> stop = {};  // generation ends before the first occurrence of any of these
  bool ignore_eos = false;          // keep going past end-of-generation tokens
  const std::atomic<bool>* cancel = nullptr;  // set from another thread (Ctrl-C) to stop early
};

enum class FinishReason { kLength, kStop, kEndOfGeneration, kContextFull, kCancelled };
std::string_view FinishReasonName(FinishReason r);  // "length", "stop", ...

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (a stop string's tokens included)
  std::string text;             // generated text, cut before a stop string
  FinishReason finish = FinishReason::kLength;
  int32_t n_prompt = 0;
  double prompt_seconds = 0.0;
  double generate_seconds = 0.0;
};

// Text pieces go to on_text as soon as they cannot be the start of a stop string. The prompt must
// fit the context with room for at least one token (OUT_OF_RANGE otherwise).
StatusOr<GenerateResult> Generate(Context& ctx, Sampler& sampler, std::span<const int32_t> prompt,
                                  const GenerateOptions& options,
                                  const std::function<void(std::string_view)>& on_text);

// True for tokens that end a turn or a text (EOS, EOT, EOM and the control tokens chat models use).
bool IsEndOfGeneration(const Vocab& vocab, int32_t id);

}  // namespace flotilla
