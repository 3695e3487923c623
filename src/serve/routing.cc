#include "serve/routing.h"

#include <cmath>
#include <ctime>
#include <random>

#include "serve/errors.h"

namespace flotilla::serve {
namespace {

using nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string NewTextId(bool chat) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s-%016llx", chat ? "chatcmpl" : "cmpl", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

std::string ParsedRequest::RoutingText() const {
  if (!chat) return prompt;
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role == "user") return it->content;
  }
  return "";
}

std::vector<route::ChatMessage> ParsedRequest::UpstreamMessages() const {
  std::vector<route::ChatMessage> out;
  if (!chat) {
    out.push_back({"user", prompt});
    return out;
  }
  for (const ChatMessage& m : messages) out.push_back({m.role, m.content});
  return out;
}

StatusOr<ParsedRequest> ParseRequest(std::string_view body, bool chat) {
  ParsedRequest r;
  r.chat = chat;
  if (chat) {
    ASSIGN_OR_RETURN(ChatRequest c, ParseChatRequest(body));
    r.model = std::move(c.model);
    r.messages = std::move(c.messages);
    r.params = std::move(c.params);
  } else {
    ASSIGN_OR_RETURN(CompletionRequest c, ParseCompletionRequest(body));
    r.model = std::move(c.model);
    r.prompt = std::move(c.prompt);
    r.params = std::move(c.params);
  }
  return r;
}

// A float as JSON with 6 decimals (0.6f prints as 0.6, not 0.6000000238418579); null when absent.
json Rounded(const std::optional<float>& v) {
  if (!v) return nullptr;
  return std::round(static_cast<double>(*v) * 1e6) / 1e6;
}

json RouteJson(const route::Decision& d, const std::string& answered_by) {
  json j = {{"route", route::RouteName(d.route)},
            {"specialist", d.specialist->name},
            {"answered_by", answered_by},
            {"confidence", Rounded(d.confidence)},
            {"threshold", Rounded(d.threshold)},
            {"reason", d.reason}};
  if (!d.router_label.empty()) {
    j["router_label"] = d.router_label;
    j["router_confidence"] = Rounded(d.router_confidence);
  }
  if (!d.label.empty()) j["label"] = d.label;
  return j;
}

void RecordDecision(const Server::State& s, Exchange& ex, const route::Decision& d, const std::string& answered_by,
                    int64_t prompt_tokens, int64_t completion_tokens) {
  RequestRecord& r = ex.record;
  ex.routed = true;
  r.route = std::string(route::RouteName(d.route));
  r.specialist = d.specialist->name;
  r.answered_by = answered_by;
  r.confidence = d.confidence ? static_cast<double>(*d.confidence) : -1.0;
  r.route_reason = d.reason;
  r.prompt_tokens = static_cast<int32_t>(prompt_tokens);
  r.completion_tokens = static_cast<int32_t>(completion_tokens);
  const route::Cost cost = route::EstimateCost(s.fleet->config(), d.route, prompt_tokens, completion_tokens);
  r.cost_usd = cost.actual_usd;
  r.savings_usd = cost.savings_usd();
}

void SetRouteHeaders(httplib::Response& res, const route::Decision& d, const std::string& answered_by) {
  res.set_header("X-Flotilla-Route", std::string(route::RouteName(d.route)));
  res.set_header("X-Flotilla-Answered-By", answered_by);
}

route::ChatParams ToChatParams(const GenerationParams& p) {
  route::ChatParams c;
  if (p.max_tokens) c.max_tokens = *p.max_tokens;
  if (p.temperature) c.temperature = *p.temperature;
  if (p.top_p) c.top_p = *p.top_p;
  if (p.seed && *p.seed <= static_cast<uint64_t>(INT64_MAX)) c.seed = static_cast<int64_t>(*p.seed);
  c.stop = p.stop;
  return c;
}

void RespondText(Server::State& s, httplib::Response& res, const ParsedRequest& r, const route::Decision& d,
                 const TextAnswer& a, Exchange& ex) {
  const std::string id = NewTextId(r.chat);
  const int64_t created = std::time(nullptr);
  const json usage = {{"prompt_tokens", a.prompt_tokens},
                      {"completion_tokens", a.completion_tokens},
                      {"total_tokens", a.prompt_tokens + a.completion_tokens}};
  json choice = {{"index", 0}, {"finish_reason", a.finish_reason}, {"logprobs", nullptr}};
  if (r.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", a.text}};
  } else {
    choice["text"] = a.text;
  }
  const json whole = {{"id", id},
                      {"object", r.chat ? "chat.completion" : "text_completion"},
                      {"created", created},
                      {"model", a.answered_by},
                      {"choices", json::array({choice})},
                      {"usage", usage},
                      {"flotilla", RouteJson(d, a.answered_by)}};
  RecordDecision(s, ex, d, a.answered_by, a.prompt_tokens, a.completion_tokens);
  ex.record.http_status = 200;
  ex.record.response_json = Dump(whole);
  if (Status logged = Finish(s, ex); !logged.ok()) {  // not durable: do not acknowledge
    SetError(res, FailedPreconditionError("the request log is unavailable: " + logged.message()), ex);
    return;
  }
  SetRouteHeaders(res, d, a.answered_by);
  if (!r.params.stream) {
    res.set_content(ex.record.response_json, "application/json");
    return;
  }
  // The same answer as a stream: chunks in the order a generating model sends them.
  auto chunk = [&](const json& delta_or_text, const json& finish) {
    json c = {{"index", 0}, {"finish_reason", finish}, {"logprobs", nullptr}};
    if (r.chat) {
      c["delta"] = delta_or_text;
    } else {
      c["text"] = delta_or_text;
    }
    return json{{"id", id},
                {"object", r.chat ? "chat.completion.chunk" : "text_completion"},
                {"created", created},
                {"model", a.answered_by},
                {"choices", json::array({c})}};
  };
  std::string body;
  auto event = [&](const json& j) { body += "data: " + Dump(j) + "\n\n"; };
  if (r.chat) event(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
  if (!a.text.empty()) event(chunk(r.chat ? json{{"content", a.text}} : json(a.text), nullptr));
  json last = chunk(r.chat ? json::object() : json(""), a.finish_reason);
  last["flotilla"] = RouteJson(d, a.answered_by);
  event(last);
  if (r.params.include_usage) {
    json u = chunk(json::object(), nullptr);
    u["choices"] = json::array();
    u["usage"] = usage;
    event(u);
  }
  body += "data: [DONE]\n\n";
  res.set_header("Cache-Control", "no-cache");
  res.set_content(body, "text/event-stream");
}

bool TryUpstream(Server::State& s, httplib::Response& res, const ParsedRequest& r, route::Decision* d,
                 Exchange& ex) {
  const route::UpstreamClient* upstream = s.fleet->upstream();
  CHECK(upstream != nullptr);  // the router escalates only when there is one
  s.metrics.RecordEscalation(d->reason_code);
  StatusOr<route::ChatReply> reply = upstream->Chat(r.UpstreamMessages(), ToChatParams(r.params));
  if (reply.ok()) {
    s.metrics.RecordUpstreamTokens(reply->prompt_tokens, reply->completion_tokens);
    TextAnswer a;
    a.text = reply->text;
    a.finish_reason = reply->finish_reason.empty() ? "stop" : reply->finish_reason;
    a.answered_by = upstream->config().model;
    a.prompt_tokens = reply->prompt_tokens;
    a.completion_tokens = reply->completion_tokens;
    RespondText(s, res, r, *d, a, ex);
    return true;
  }
  s.metrics.RecordUpstreamError(route::UpstreamErrorKind(reply.status()));
  std::fprintf(stderr, "flotilla serve: %s\n", reply.status().message().c_str());
  StatusOr<route::Decision> fallback = s.fleet->router().AfterUpstreamFailure(*d, reply.status());
  if (!fallback.ok()) {
    ex.record.route = "escalated";
    ex.record.specialist = d->specialist->name;
    ex.record.confidence = d->confidence ? static_cast<double>(*d->confidence) : -1.0;
    ex.record.route_reason = d->reason + "; " + fallback.status().message();
    SetError(res, fallback.status(), ex);  // UNAVAILABLE -> 502
    res.set_header("X-Flotilla-Route", "escalated");
    (void)Finish(s, ex);
    return true;
  }
  *d = std::move(*fallback);
  return false;
}

}  // namespace flotilla::serve
