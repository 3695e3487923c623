#include "route/upstream.h"

#include <cmath>
#include <memory>
#include <mutex>
#include <utility>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

namespace flotilla::route {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxReplyBytes = 16 << 20;  // an upstream reply larger than this is refused

void CurlGlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK); });
}

struct Body {
  std::string bytes;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  if (body->bytes.size() + size * n > kMaxReplyBytes) {
    body->too_large = true;
    return 0;  // stops the transfer
  }
  body->bytes.append(data, size * n);
  return size * n;
}

// The error message an OpenAI-style server put in a non-2xx body, else the start of the body.
std::string ServerMessage(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error")) {
    const json& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  std::string text = body.substr(0, 200);
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text.empty() ? "(empty body)" : text;
}

Status HttpStatusError(long code, const std::string& url, const std::string& body) {
  std::string msg = "upstream " + url + " answered HTTP " + std::to_string(code) + ": " + ServerMessage(body);
  if (code == 400 || code == 422) return InvalidArgumentError(msg);
  if (code == 401 || code == 403) return {StatusCode::kPermissionDenied, msg};
  if (code == 404) return NotFoundError(msg);
  return UnavailableError(msg);  // 5xx, 429 and anything else: the upstream cannot serve this now
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string BuildChatRequestBody(const std::string& model, const std::vector<ChatMessage>& messages,
                                 const ChatParams& params) {
  json body = {{"model", model}, {"stream", false}};
  json msgs = json::array();
  for (const ChatMessage& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  body["messages"] = std::move(msgs);
  if (params.max_tokens >= 0) body["max_tokens"] = params.max_tokens;
  if (params.temperature >= 0) body["temperature"] = params.temperature;
  if (params.top_p >= 0) body["top_p"] = params.top_p;
  if (params.seed >= 0) body["seed"] = params.seed;
  if (!params.stop.empty()) body["stop"] = params.stop;
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

StatusOr<ChatReply> ParseChatReply(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DataLossError("upstream reply is not JSON: " + body.substr(0, 80));
  if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) {
    return DataLossError("upstream reply has no choices");
  }
  const json& choice = j["choices"][0];
  if (!choice.is_object() || !choice.contains("message") || !choice["message"].is_object()) {
    return DataLossError("upstream reply's first choice has no message");
  }
  const json& message = choice["message"];
  ChatReply reply;
  if (message.contains("content") && message["content"].is_string()) {
    reply.text = message["content"].get<std::string>();
  } else if (!message.contains("content") || !message["content"].is_null()) {
    return DataLossError("upstream reply's message content is not a string");
  }
  if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
    reply.finish_reason = choice["finish_reason"].get<std::string>();
  }
  if (j.contains("usage") && j["usage"].is_object()) {
    const json& u = j["usage"];
    if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) {
      reply.prompt_tokens = u["prompt_tokens"].get<int64_t>();
    }
    if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer()) {
      reply.completion_tokens = u["completion_tokens"].get<int64_t>();
    }
  }
  return reply;
}

UpstreamClient::UpstreamClient(UpstreamConfig config) : config_(std::move(config)) {
  while (!config_.base_url.empty() && config_.base_url.back() == '/') config_.base_url.pop_back();
}

StatusOr<ChatReply> UpstreamClient::Chat(const std::vector<ChatMessage>& messages,
                                         const ChatParams& params) const {
  CurlGlobalInitOnce();
  const std::string url = config_.base_url + "/chat/completions";
  const std::string request = BuildChatRequestBody(config_.model, messages, params);
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return InternalError("curl_easy_init failed");
  CURL* c = curl.get();
  curl_slist* raw_headers = curl_slist_append(nullptr, "Content-Type: application/json");
  raw_headers = curl_slist_append(raw_headers, "Accept: application/json");
  std::string auth = "Authorization: Bearer " + config_.api_key;
  if (!config_.api_key.empty()) raw_headers = curl_slist_append(raw_headers, auth.c_str());
  std::unique_ptr<curl_slist, SlistDeleter> headers(raw_headers);

  char errbuf[CURL_ERROR_SIZE] = {0};
  Body body;
  long timeout_ms = static_cast<long>(std::ceil(std::max(0.001, config_.timeout_seconds) * 1000));
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "flotilla/0.1");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);

  CURLcode rc = curl_easy_perform(c);
  if (body.too_large) return DataLossError("upstream " + url + " reply is larger than 16 MiB");
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return UnavailableError("upstream " + url + " timed out after " + std::to_string(timeout_ms) + " ms");
    }
    return UnavailableError("upstream " + url + " failed: " + why);
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code >= 300) return HttpStatusError(code, url, body.bytes);
  StatusOr<ChatReply> reply = ParseChatReply(body.bytes);
  if (!reply.ok()) return reply.status().WithContext("upstream " + url);
  return reply;
}

}  // namespace flotilla::route
