#include "train/distill_pairs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/file_util.h"

namespace flotilla::train {
namespace {

using nlohmann::json;

const char* const kPromptKeys[] = {"prompt", "instruction", "question", "input"};

bool Blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

// A JSON messages array as a conversation; INVALID_ARGUMENT naming what is wrong.
StatusOr<std::vector<ChatMessage>> ParseMessages(const json& a) {
  if (!a.is_array()) return InvalidArgumentError("\"messages\" is not an array");
  std::vector<ChatMessage> m;
  for (const json& msg : a) {
    if (!msg.is_object() || !msg.contains("role") || !msg.contains("content") || !msg["role"].is_string() ||
        !msg["content"].is_string()) {
      return InvalidArgumentError("each message needs string \"role\" and \"content\"");
    }
    m.push_back({msg["role"].get<std::string>(), msg["content"].get<std::string>()});
  }
  return m;
}

StatusOr<Prompt> PromptFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgumentError("not a JSON object");
  Prompt p;
  if (j.contains("messages")) {
    ASSIGN_OR_RETURN(p, ParseMessages(j["messages"]));
    if (p.empty()) return InvalidArgumentError("\"messages\" is empty");
    if (p.back().role == "assistant") return InvalidArgumentError("the last message is already the assistant's");
  } else {
    if (j.contains("system") && j["system"].is_string()) p.push_back({"system", j["system"].get<std::string>()});
    for (const char* k : kPromptKeys) {
      if (j.contains(k) && j[k].is_string()) {
        p.push_back({"user", j[k].get<std::string>()});
        break;
      }
    }
    if (p.empty() || p.back().role != "user") {
      return InvalidArgumentError("needs \"messages\" or a string \"prompt\" (instruction/question/input)");
    }
  }
  if (Blank(p.back().content)) return InvalidArgumentError("the prompt is empty");
  return p;
}

json MessagesJson(const Prompt& prompt) {
  json a = json::array();
  for (const ChatMessage& m : prompt) a.push_back({{"role", m.role}, {"content", m.content}});
  return a;
}

bool SamePrompt(const std::vector<ChatMessage>& a, const Prompt& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].role != b[i].role || a[i].content != b[i].content) return false;
  }
  return true;
}

// Writes all of `line` with one write(2) where the kernel allows, then fsyncs.
Status AppendLine(int fd, const std::string& line, const std::string& path) {
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InternalError("cannot write " + path + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return InternalError("cannot sync " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<Prompt>> LoadPrompts(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot open prompts " + path);
  const bool jsonl = path.ends_with(".jsonl") || path.ends_with(".json");
  std::vector<Prompt> prompts;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (Blank(line)) continue;
    if (!jsonl) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      prompts.push_back({{"user", line}});
      continue;
    }
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return InvalidArgumentError(where + "malformed JSON");
    StatusOr<Prompt> p = PromptFromJson(j);
    if (!p.ok()) return InvalidArgumentError(where + p.status().message());
    prompts.push_back(std::move(*p));
  }
  if (prompts.empty()) return InvalidArgumentError("prompts file " + path + " has no prompts");
  return prompts;
}

std::string PairLine(const Prompt& prompt, const std::string& answer) {
  json messages = MessagesJson(prompt);
  messages.push_back({{"role", "assistant"}, {"content", answer}});
  // Invalid UTF-8 from a teacher is replaced, not thrown on.
  return json{{"messages", messages}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

StatusOr<std::vector<std::string>> LoadSavedAnswers(const std::string& pairs_path, const std::vector<Prompt>& prompts) {
  std::vector<std::string> answers;
  if (!std::filesystem::exists(pairs_path)) return answers;
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(pairs_path));
  size_t pos = 0, kept = 0;  // kept: bytes of whole lines
  for (int64_t line_no = 1; pos < text.size(); ++line_no) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // a torn last line
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    kept = pos;
    if (Blank(line)) continue;
    const std::string where = pairs_path + ":" + std::to_string(line_no) + ": ";
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("messages")) {
      return InvalidArgumentError(where + "not a saved pair (malformed JSON or no \"messages\")");
    }
    StatusOr<std::vector<ChatMessage>> m = ParseMessages(j["messages"]);
    if (!m.ok()) return InvalidArgumentError(where + m.status().message());
    if (m->empty() || m->back().role != "assistant") return InvalidArgumentError(where + "no assistant answer");
    const std::string answer = m->back().content;
    m->pop_back();
    if (answers.size() >= prompts.size() || !SamePrompt(*m, prompts[answers.size()])) {
      return FailedPreconditionError(where + "answers another prompt than prompt " +
                                     std::to_string(answers.size() + 1) +
                                     " of the prompts file; use another --pairs file or remove this one");
    }
    answers.push_back(answer);
  }
  if (kept < text.size()) {  // drop the torn line so appends start on a line of their own
    RETURN_IF_ERROR(WriteFileAtomic(pairs_path, std::span<const char>(text.data(), kept)));
  }
  return answers;
}

StatusOr<CollectResult> CollectAnswers(const std::vector<Prompt>& prompts, const std::string& pairs_path,
                                       const AskFn& ask, const AnsweredFn& answered) {
  ASSIGN_OR_RETURN(std::vector<std::string> saved, LoadSavedAnswers(pairs_path, prompts));
  CollectResult r;
  r.reused = static_cast<int64_t>(saved.size());
  const int64_t total = static_cast<int64_t>(prompts.size());
  if (r.reused == total) return r;
  const int fd = ::open(pairs_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return InternalError("cannot open " + pairs_path + " for appending: " + std::strerror(errno));
  Status status = Status::Ok();
  for (int64_t i = r.reused; i < total && status.ok(); ++i) {
    StatusOr<std::string> answer = ask(prompts[i]);
    if (!answer.ok()) {
      status = Status(answer.status().code(), "teacher, prompt " + std::to_string(i + 1) + " of " +
                                                  std::to_string(total) + ": " + answer.status().message() + " (" +
                                                  std::to_string(i) + " answers saved in " + pairs_path +
                                                  "; run again to continue)");
      break;
    }
    status = AppendLine(fd, PairLine(prompts[i], *answer) + "\n", pairs_path);
    if (status.ok()) {
      ++r.asked;
      if (answered) answered(i + 1, total);
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return r;
}

}  // namespace flotilla::train
