#include "serve/openai_schema.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "serve/errors.h"

namespace flotilla::serve {
namespace {

using nlohmann::json;

constexpr size_t kMaxStop = 4;
constexpr size_t kMaxMessages = 4096;

// nullopt when the key is absent or null (OpenAI clients send explicit nulls for unset values).
const json* Field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

StatusOr<json> ParseObject(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgumentError("the request body is not valid JSON");
  if (!j.is_object()) return InvalidArgumentError("the request body must be a JSON object");
  return j;
}

StatusOr<std::optional<double>> Number(const json& j, const char* key, double lo, double hi) {
  const json* v = Field(j, key);
  if (!v) return std::optional<double>();
  if (!v->is_number()) return ParamError(key, std::string("'") + key + "' must be a number");
  double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    return ParamError(key, std::string("'") + key + "' must be between " + json(lo).dump() + " and " +
                               json(hi).dump());
  }
  return std::optional<double>(d);
}

StatusOr<bool> Bool(const json& j, const char* key) {
  const json* v = Field(j, key);
  if (!v) return false;
  if (!v->is_boolean()) return ParamError(key, std::string("'") + key + "' must be a boolean");
  return v->get<bool>();
}

Status ParseStop(const json& j, GenerationParams& p) {
  const json* v = Field(j, "stop");
  if (!v) return Status::Ok();
  if (v->is_string()) {
    p.stop.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > kMaxStop) return ParamError("stop", "'stop' takes at most 4 sequences");
    for (const json& s : *v) {
      if (!s.is_string()) return ParamError("stop", "'stop' must be a string or an array of strings");
      p.stop.push_back(s.get<std::string>());
    }
  } else {
    return ParamError("stop", "'stop' must be a string or an array of strings");
  }
  for (const std::string& s : p.stop) {
    if (s.empty()) return ParamError("stop", "'stop' sequences must not be empty");
  }
  return Status::Ok();
}

Status ParseMaxTokens(const json& j, GenerationParams& p) {
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    const json* v = Field(j, key);
    if (!v) continue;
    if (!v->is_number_integer()) return ParamError(key, std::string("'") + key + "' must be an integer");
    int64_t n = v->get<int64_t>();
    if (n < 1 || n > INT32_MAX) return ParamError(key, std::string("'") + key + "' must be at least 1");
    p.max_tokens = static_cast<int32_t>(n);
    return Status::Ok();
  }
  return Status::Ok();
}

Status ParseResponseFormat(const json& j, GenerationParams& p) {
  const json* v = Field(j, "response_format");
  if (!v) return Status::Ok();
  if (!v->is_object() || !v->contains("type") || !(*v)["type"].is_string()) {
    return ParamError("response_format", "'response_format' must be an object with a string 'type'");
  }
  const std::string type = (*v)["type"].get<std::string>();
  if (type == "json_object") {
    p.json_object = true;
  } else if (type == "json_schema") {
    return Status(StatusCode::kUnimplemented, "response_format 'json_schema' is not supported; use 'json_object'");
  } else if (type != "text") {
    return ParamError("response_format", "unknown response_format type '" + type + "'");
  }
  return Status::Ok();
}

Status ParseUnsupported(const json& j) {
  if (const json* n = Field(j, "n"); n && !(n->is_number_integer() && n->get<int64_t>() == 1)) {
    return Status(StatusCode::kUnimplemented, "only n=1 is supported");
  }
  if (const json* v = Field(j, "logprobs"); v && !(v->is_boolean() && !v->get<bool>())) {
    return Status(StatusCode::kUnimplemented, "logprobs are not supported");
  }
  if (const json* v = Field(j, "tools"); v && !(v->is_array() && v->empty())) {
    return Status(StatusCode::kUnimplemented, "tools are not supported");
  }
  if (const json* v = Field(j, "echo"); v && !(v->is_boolean() && !v->get<bool>())) {
    return Status(StatusCode::kUnimplemented, "echo is not supported");
  }
  return Status::Ok();
}

Status ParseParams(const json& j, GenerationParams& p) {
  RETURN_IF_ERROR(ParseUnsupported(j));
  RETURN_IF_ERROR(ParseMaxTokens(j, p));
  ASSIGN_OR_RETURN(std::optional<double> t, Number(j, "temperature", 0.0, 2.0));
  if (t) p.temperature = static_cast<float>(*t);
  ASSIGN_OR_RETURN(std::optional<double> top_p, Number(j, "top_p", 0.0, 1.0));
  if (top_p) {
    if (*top_p <= 0.0) return ParamError("top_p", "'top_p' must be greater than 0");
    p.top_p = static_cast<float>(*top_p);
  }
  ASSIGN_OR_RETURN(std::optional<double> pp, Number(j, "presence_penalty", -2.0, 2.0));
  p.presence_penalty = static_cast<float>(pp.value_or(0.0));
  ASSIGN_OR_RETURN(std::optional<double> fp, Number(j, "frequency_penalty", -2.0, 2.0));
  p.frequency_penalty = static_cast<float>(fp.value_or(0.0));
  if (const json* s = Field(j, "seed")) {
    if (!s->is_number_integer()) return ParamError("seed", "'seed' must be an integer");
    p.seed = s->is_number_unsigned() ? s->get<uint64_t>() : static_cast<uint64_t>(s->get<int64_t>());
  }
  RETURN_IF_ERROR(ParseStop(j, p));
  ASSIGN_OR_RETURN(p.stream, Bool(j, "stream"));
  if (const json* so = Field(j, "stream_options")) {
    if (!so->is_object()) return ParamError("stream_options", "'stream_options' must be an object");
    ASSIGN_OR_RETURN(p.include_usage, Bool(*so, "include_usage"));
  }
  return ParseResponseFormat(j, p);
}

StatusOr<std::string> ParseModel(const json& j) {
  const json* m = Field(j, "model");
  if (!m) return ParamError("model", "'model' is required");
  if (!m->is_string() || m->get<std::string>().empty()) {
    return ParamError("model", "'model' must be a non-empty string");
  }
  return m->get<std::string>();
}

// Message content: a string, or an array of {"type": "text", "text": ...} parts joined.
StatusOr<std::string> ParseContent(const json& m, size_t index) {
  const std::string param = "messages[" + std::to_string(index) + "].content";
  const json* c = Field(m, "content");
  if (!c) return std::string();  // an assistant turn with no text
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) return ParamError(param, "'" + param + "' must be a string or an array of text parts");
  std::string text;
  for (const json& part : *c) {
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      return ParamError(param, "'" + param + "' parts must be {\"type\": \"text\", \"text\": string}");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

StatusOr<std::vector<ChatMessage>> ParseMessages(const json& j) {
  const json* ms = Field(j, "messages");
  if (!ms) return ParamError("messages", "'messages' is required");
  if (!ms->is_array() || ms->empty()) return ParamError("messages", "'messages' must be a non-empty array");
  if (ms->size() > kMaxMessages) return ParamError("messages", "too many messages");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < ms->size(); ++i) {
    const json& m = (*ms)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return ParamError(param, "'" + param + "' must be an object");
    const json* role = Field(m, "role");
    if (!role || !role->is_string()) return ParamError(param + ".role", "'" + param + ".role' must be a string");
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";  // OpenAI's newer name for the system role
    if (r != "system" && r != "user" && r != "assistant" && r != "tool") {
      return ParamError(param + ".role", "unknown role '" + r + "'");
    }
    ASSIGN_OR_RETURN(std::string content, ParseContent(m, i));
    out.push_back({std::move(r), std::move(content)});
  }
  return out;
}

}  // namespace

StatusOr<ChatRequest> ParseChatRequest(std::string_view body) {
  ASSIGN_OR_RETURN(json j, ParseObject(body));
  ChatRequest r;
  ASSIGN_OR_RETURN(r.model, ParseModel(j));
  ASSIGN_OR_RETURN(r.messages, ParseMessages(j));
  RETURN_IF_ERROR(ParseParams(j, r.params));
  return r;
}

StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body) {
  ASSIGN_OR_RETURN(json j, ParseObject(body));
  CompletionRequest r;
  ASSIGN_OR_RETURN(r.model, ParseModel(j));
  const json* p = Field(j, "prompt");
  if (!p) return ParamError("prompt", "'prompt' is required");
  if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];
  if (!p->is_string()) return ParamError("prompt", "'prompt' must be a string (or an array of one string)");
  r.prompt = p->get<std::string>();
  RETURN_IF_ERROR(ParseParams(j, r.params));
  if (!r.params.max_tokens) r.params.max_tokens = 16;  // the OpenAI default for completions
  return r;
}

std::string ModelOfBody(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_object() && j.contains("model") && j["model"].is_string()) return j["model"].get<std::string>();
  return "";
}

}  // namespace flotilla::serve
