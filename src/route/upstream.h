// The upstream large model: a client for any OpenAI-compatible chat completions endpoint (libcurl).
// One blocking request per call; safe to call from several threads at once (no shared mutable state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flotilla/status.h"

namespace flotilla::route {

struct UpstreamConfig {
  std::string base_url;  // OpenAI style, e.g. "http://127.0.0.1:8081/v1"
  std::string model;
  std::string api_key;  // may be empty: no Authorization header
  double timeout_seconds = 60;  // whole request, connect included
};

struct ChatMessage {
  std::string role, content;
};

struct ChatParams {
  int32_t max_tokens = -1;
  float temperature = -1;
  float top_p = -1;
  int64_t seed = -1;
  std::vector<std::string> stop;
};  // negative/empty: not sent

struct ChatReply {
  std::string text, finish_reason;
  int64_t prompt_tokens = 0, completion_tokens = 0;
};

class UpstreamClient {
 public:
  explicit UpstreamClient(UpstreamConfig config);

  // POST base_url + "/chat/completions" (non-streaming). UNAVAILABLE when refused or timed out,
  // an error naming the HTTP status and the server's error message for non-2xx (UNAVAILABLE for 5xx
  // and 429, INVALID_ARGUMENT / PERMISSION_DENIED / NOT_FOUND for 400 / 401-403 / 404),
  // DATA_LOSS for a malformed reply.
  StatusOr<ChatReply> Chat(const std::vector<ChatMessage>& messages, const ChatParams& params) const;

  const UpstreamConfig& config() const { return config_; }

 private:
  UpstreamConfig config_;
};

// The JSON body Chat sends (exposed for tests).
std::string BuildChatRequestBody(const std::string& model, const std::vector<ChatMessage>& messages,
                                 const ChatParams& params);
// Parses an OpenAI chat.completion body. DATA_LOSS when it is not one.
StatusOr<ChatReply> ParseChatReply(const std::string& body);

}  // namespace flotilla::route
