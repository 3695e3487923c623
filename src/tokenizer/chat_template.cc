#include "tokenizer/chat_template.h"

#include <vector>

namespace flotilla {

StatusOr<ChatTemplate> ChatTemplate::Parse(std::string_view source) {
  ASSIGN_OR_RETURN(jinja::Template t, jinja::Template::Parse(source));
  return ChatTemplate(std::move(t));
}

StatusOr<std::string> ChatTemplate::Render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                           std::string_view bos_token, std::string_view eos_token) const {
  return Render(messages, add_generation_prompt, bos_token, eos_token, jinja::ValueDict());
}

StatusOr<std::string> ChatTemplate::Render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                           std::string_view bos_token, std::string_view eos_token,
                                           const jinja::ValueDict& extra) const {
  jinja::ValueList list;
  list.reserve(messages.size());
  for (const ChatMessage& m : messages) {
    jinja::ValueDict d;
    d.Set("role", jinja::Value::String(m.role));
    d.Set("content", jinja::Value::String(m.content));
    list.push_back(jinja::Value::Dict(std::move(d)));
  }
  jinja::ValueDict vars;
  vars.Set("messages", jinja::Value::List(std::move(list)));
  vars.Set("add_generation_prompt", jinja::Value::Bool(add_generation_prompt));
  vars.Set("bos_token", jinja::Value::String(std::string(bos_token)));
  vars.Set("eos_token", jinja::Value::String(std::string(eos_token)));
  vars.Set("tools", jinja::Value::None());
  for (const auto& [k, v] : extra.items()) vars.Set(k, v);
  return template_.Render(vars);
}

namespace {

std::string TokenText(const Vocab& vocab, int32_t id) {
  if (id < 0 || id >= vocab.size()) return "";
  return vocab.tokens[static_cast<size_t>(id)];
}

}  // namespace

StatusOr<std::string> ApplyChatTemplate(const Vocab& vocab, std::span<const ChatMessage> messages,
                                        bool add_generation_prompt) {
  // As llama.cpp: no template, or the bare name "chatml", means ChatML.
  const bool chatml = !vocab.chat_template || vocab.chat_template->empty() || *vocab.chat_template == "chatml";
  const std::string_view source = chatml ? kChatMlTemplate : std::string_view(*vocab.chat_template);
  ASSIGN_OR_RETURN(ChatTemplate tmpl, ChatTemplate::Parse(source));
  const std::string bos = TokenText(vocab, vocab.bos), eos = TokenText(vocab, vocab.eos);
  StatusOr<std::string> text = tmpl.Render(messages, add_generation_prompt, bos, eos);
  const bool system_rejected = !text.ok() && text.status().code() == StatusCode::kInvalidArgument &&
                               text.status().message().find("raised an exception") != std::string::npos;
  if (!system_rejected || messages.size() < 2 || messages[0].role != "system" || messages[1].role != "user") {
    return text;
  }
  std::vector<ChatMessage> merged(messages.begin() + 1, messages.end());
  merged[0].content = messages[0].content + "\n\n" + messages[1].content;
  return tmpl.Render(merged, add_generation_prompt, bos, eos);
}

}  // namespace flotilla
