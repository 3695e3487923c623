// The OpenAI request schema for /v1/chat/completions and /v1/completions: parsing and validation.
// Every malformed body becomes INVALID_ARGUMENT naming the parameter (errors.h ParamError), valid
// requests for features we do not have become UNIMPLEMENTED; nothing here throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"
#include "tokenizer/chat_template.h"

namespace flotilla::serve {

// Sampling and stopping parameters shared by both endpoints.
struct GenerationParams {
  std::optional<int32_t> max_tokens;  // absent: until end of generation (capped by the server)
  std::optional<float> temperature;   // [0, 2]
  std::optional<float> top_p;         // (0, 1]
  std::optional<uint64_t> seed;
  float presence_penalty = 0.0f;      // [-2, 2]
  float frequency_penalty = 0.0f;     // [-2, 2]
  std::vector<std::string> stop;      // at most 4, none empty
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
  bool json_object = false;           // response_format {"type": "json_object"}
};

struct ChatRequest {
  std::string model;
  std::vector<ChatMessage> messages;
  GenerationParams params;
};

struct CompletionRequest {
  std::string model;
  std::string prompt;
  GenerationParams params;
};

StatusOr<ChatRequest> ParseChatRequest(std::string_view body);
StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body);

// The "model" of any JSON body, or "" when there is none (for logging a request that failed to parse).
std::string ModelOfBody(std::string_view body);

}  // namespace flotilla::serve
