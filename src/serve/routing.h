// Internal to src/serve: requests after parsing, the route decision's place in responses and logs,
// and answers that are a finished text (the upstream's, or a classifier specialist's label).
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "route/router.h"
#include "serve/openai_schema.h"
#include "serve/server_state.h"

namespace flotilla::serve {

// A parsed /v1/chat/completions (chat) or /v1/completions request.
struct ParsedRequest {
  bool chat = true;
  std::string model;
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completions
  GenerationParams params;

  // What the router reads: the last user message, or the prompt.
  std::string RoutingText() const;
  // The conversation as the upstream sees it (a completion prompt becomes one user message).
  std::vector<route::ChatMessage> UpstreamMessages() const;
};

StatusOr<ParsedRequest> ParseRequest(std::string_view body, bool chat);

// {"route", "specialist", "answered_by", "confidence", "threshold", "reason", ...}: the "flotilla"
// object of every routed response.
nlohmann::json RouteJson(const route::Decision& d, const std::string& answered_by);

// Fills the exchange's route, specialist, confidence, reason, tokens, cost and savings.
void RecordDecision(const Server::State& s, Exchange& ex, const route::Decision& d, const std::string& answered_by,
                    int64_t prompt_tokens, int64_t completion_tokens);

// Sets the X-Flotilla-Route and X-Flotilla-Answered-By headers.
void SetRouteHeaders(httplib::Response& res, const route::Decision& d, const std::string& answered_by);

route::ChatParams ToChatParams(const GenerationParams& p);

// A finished answer sent as one JSON response or, for stream requests, as a complete SSE stream
// (role, content, finish, optional usage chunk, [DONE]). Logs the exchange before responding.
struct TextAnswer {
  std::string text;
  std::string finish_reason = "stop";
  std::string answered_by;  // "model" of the response
  int64_t prompt_tokens = 0, completion_tokens = 0;
};
void RespondText(Server::State& s, httplib::Response& res, const ParsedRequest& r, const route::Decision& d,
                 const TextAnswer& a, Exchange& ex);

// The escalation: asks the upstream for `d` (route kEscalated). Returns true when the response is
// written (the upstream's answer, or a 502 when on_failure = "error"); false with *d changed to a
// fallback decision when the specialist must answer.
bool TryUpstream(Server::State& s, httplib::Response& res, const ParsedRequest& r, route::Decision* d,
                 Exchange& ex);

}  // namespace flotilla::serve
