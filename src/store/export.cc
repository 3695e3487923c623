// Request log -> training JSONL. The adapter catches nlohmann's exceptions: a row whose JSON does not
// parse (it never should) is skipped, not fatal.
#include <nlohmann/json.hpp>

#include "store/request_log.h"

namespace flotilla {
namespace {

using nlohmann::json;

// The assistant text of a chat.completion or text_completion response, or nullopt.
std::optional<std::string> AnswerText(const json& response, bool chat) {
  if (!response.is_object() || !response.contains("choices") || !response["choices"].is_array() ||
      response["choices"].empty()) {
    return std::nullopt;
  }
  const json& c = response["choices"][0];
  if (chat) {
    if (!c.contains("message") || !c["message"].contains("content") || !c["message"]["content"].is_string()) {
      return std::nullopt;
    }
    return c["message"]["content"].get<std::string>();
  }
  if (!c.contains("text") || !c["text"].is_string()) return std::nullopt;
  return c["text"].get<std::string>();
}

// One JSONL line for a logged exchange, or nullopt when the row is not a complete, successful one.
std::optional<std::string> TrainingLine(const RequestRecord& r) {
  const bool chat = r.endpoint == "chat.completions";
  if (r.http_status != 200 || (!chat && r.endpoint != "completions")) return std::nullopt;
  json request = json::parse(r.request_json, nullptr, /*allow_exceptions=*/false);
  json response = json::parse(r.response_json, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded() || response.is_discarded()) return std::nullopt;
  std::optional<std::string> answer = AnswerText(response, chat);
  if (!answer) return std::nullopt;
  json line;
  if (chat) {
    if (!request.contains("messages") || !request["messages"].is_array()) return std::nullopt;
    json messages = json::array();
    for (const json& m : request["messages"]) {
      if (!m.is_object()) return std::nullopt;
      json out = {{"role", m.value("role", "")}, {"content", m.contains("content") ? m["content"] : json("")}};
      messages.push_back(std::move(out));
    }
    messages.push_back({{"role", "assistant"}, {"content", *answer}});
    line["messages"] = std::move(messages);
  } else {
    if (!request.contains("prompt")) return std::nullopt;
    line["prompt"] = request["prompt"];
    line["completion"] = *answer;
  }
  line["model"] = r.answered_by;
  line["id"] = r.id;
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

StatusOr<int64_t> ExportTrainingJsonl(RequestLog& log, const std::function<void(std::string_view line)>& out) {
  int64_t n = 0;
  Status st = log.ForEach([&](const RequestRecord& r) -> Status {
    std::optional<std::string> line;
    try {
      line = TrainingLine(r);
    } catch (const json::exception&) {  // a type mismatch in a hand-edited row
      line.reset();
    }
    if (line) {
      out(*line);
      ++n;
    }
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  return n;
}

}  // namespace flotilla
