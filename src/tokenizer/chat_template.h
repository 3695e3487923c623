// Chat templates: renders a conversation into the prompt text a model was trained on, by
// interpreting the model's tokenizer.chat_template (a Jinja2 template, as in Hugging Face
// transformers) with src/tokenizer/jinja.h.
//
// Rendering follows transformers' apply_chat_template: trim_blocks and lstrip_blocks on; the
// variables are `messages` (a list of {role, content}), `add_generation_prompt`, `bos_token`,
// `eos_token`, `tools` (none), plus the globals range, namespace, dict, raise_exception and
// strftime_now. Checked against the published templates of ChatML (Qwen2.5, SmolLM2, Qwen3),
// Llama 2, Llama 3 / 3.2, Zephyr, Gemma, Phi-3 and Mistral (chat_template_test.cc).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "flotilla/status.h"
#include "tokenizer/jinja.h"
#include "tokenizer/vocab.h"

namespace flotilla {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", ...
  std::string content;
};

// The ChatML template (<|im_start|>role\ncontent<|im_end|>\n). llama.cpp formats with ChatML when
// a model has no tokenizer.chat_template; so does ApplyChatTemplate.
inline constexpr std::string_view kChatMlTemplate =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

class ChatTemplate {
 public:
  // INVALID_ARGUMENT (with line and column) when `source` is not a template we can interpret.
  static StatusOr<ChatTemplate> Parse(std::string_view source);

  // Renders the conversation. A template's raise_exception('m') becomes INVALID_ARGUMENT with m
  // in the message (e.g. Gemma rejects a system message); hostile templates end with
  // RESOURCE_EXHAUSTED rather than hanging (jinja::RenderLimits).
  StatusOr<std::string> Render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                               std::string_view bos_token, std::string_view eos_token) const;

  // Renders with `extra` variables added to (or replacing) the standard ones, e.g. date_string
  // for Llama 3.x or a list of tools.
  StatusOr<std::string> Render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                               std::string_view bos_token, std::string_view eos_token,
                               const jinja::ValueDict& extra) const;

  const std::string& source() const { return template_.source(); }

 private:
  explicit ChatTemplate(jinja::Template t) : template_(std::move(t)) {}
  jinja::Template template_;
};

// Renders `messages` with the vocab's tokenizer.chat_template (ChatML when it has none or it is
// the bare name "chatml", as llama.cpp does), passing the texts of the vocab's BOS and EOS tokens
// ("" when it has none).
// When the template raises an exception on a leading system message and the next message is
// from the user, the system text is merged into that user message ("system\n\nuser") and the
// conversation rendered again: Gemma's documented way to give system instructions.
StatusOr<std::string> ApplyChatTemplate(const Vocab& vocab, std::span<const ChatMessage> messages,
                                        bool add_generation_prompt);

}  // namespace flotilla
