// JSONL chat / instruction examples -> TokenData with answer-only loss (see data.h).
#include <fstream>

#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"
#include "train/data.h"

namespace flotilla::train {
namespace {

const char* const kPromptKeys[] = {"prompt", "instruction", "question", "input"};
const char* const kAnswerKeys[] = {"response", "output", "answer", "completion"};

// The conversation of one JSON line; INVALID_ARGUMENT naming what is missing.
StatusOr<std::vector<ChatMessage>> Messages(const nlohmann::json& j) {
  std::vector<ChatMessage> m;
  if (!j.is_object()) return InvalidArgumentError("not a JSON object");
  if (j.contains("messages")) {
    if (!j["messages"].is_array()) return InvalidArgumentError("\"messages\" is not an array");
    for (const auto& msg : j["messages"]) {
      if (!msg.is_object() || !msg.contains("role") || !msg.contains("content") || !msg["role"].is_string() ||
          !msg["content"].is_string()) {
        return InvalidArgumentError("each message needs string \"role\" and \"content\"");
      }
      m.push_back({msg["role"].get<std::string>(), msg["content"].get<std::string>()});
    }
  } else {
    std::string prompt, answer;
    bool has_prompt = false, has_answer = false;
    for (const char* k : kPromptKeys) {
      if (!has_prompt && j.contains(k) && j[k].is_string()) prompt = j[k].get<std::string>(), has_prompt = true;
    }
    for (const char* k : kAnswerKeys) {
      if (!has_answer && j.contains(k) && j[k].is_string()) answer = j[k].get<std::string>(), has_answer = true;
    }
    if (!has_prompt || !has_answer) {
      return InvalidArgumentError("needs \"messages\", or a prompt (prompt/instruction/question) and an answer "
                                  "(response/output/answer)");
    }
    if (j.contains("system") && j["system"].is_string()) m.push_back({"system", j["system"].get<std::string>()});
    m.push_back({"user", prompt});
    m.push_back({"assistant", answer});
  }
  if (m.empty() || m.back().role != "assistant") return InvalidArgumentError("the last message must be the assistant's answer");
  return m;
}

}  // namespace

StatusOr<TokenData> LoadChatData(const std::string& path, const Tokenizer& tokenizer, int64_t max_tokens) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot open " + path);
  TokenData d;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return InvalidArgumentError(where + "malformed JSON");
    StatusOr<std::vector<ChatMessage>> m = Messages(j);
    if (!m.ok()) return InvalidArgumentError(where + m.status().message());
    std::span<const ChatMessage> all(*m);
    ASSIGN_OR_RETURN(std::string prefix, ApplyChatTemplate(tokenizer.vocab(), all.first(all.size() - 1), true));
    ASSIGN_OR_RETURN(std::string full, ApplyChatTemplate(tokenizer.vocab(), all, false));
    const std::vector<int32_t> prompt_ids = tokenizer.Encode(prefix, true, true);
    std::vector<int32_t> ids = tokenizer.Encode(full, true, true);
    if (tokenizer.vocab().eos >= 0 && (ids.empty() || !tokenizer.IsEog(ids.back()))) ids.push_back(tokenizer.vocab().eos);
    if (static_cast<int64_t>(ids.size()) > max_tokens) {
      return InvalidArgumentError(where + "the example has " + std::to_string(ids.size()) +
                                  " tokens; the context holds " + std::to_string(max_tokens - 1) +
                                  " (raise --ctx or shorten it)");
    }
    // Answer tokens: those after the longest common prefix with the rendered prompt.
    size_t k = 0;
    while (k < prompt_ids.size() && k < ids.size() && prompt_ids[k] == ids[k]) ++k;
    if (k >= ids.size()) return InvalidArgumentError(where + "the answer is empty");
    d.starts.push_back(static_cast<int64_t>(d.tokens.size()));
    for (size_t i = 0; i < ids.size(); ++i) {
      d.tokens.push_back(ids[i]);
      d.counted.push_back(i >= k ? 1 : 0);
    }
  }
  if (d.starts.empty()) return InvalidArgumentError("training data " + path + " has no examples");
  d.starts.push_back(static_cast<int64_t>(d.tokens.size()));
  return d;
}

}  // namespace flotilla::train
