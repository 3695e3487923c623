// Fuzzes the chat-template interpreter: any bytes as a template, rendered on a short conversation.
// Parse or render may fail with a Status; they must never crash, hang or grow without bound.
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view source(reinterpret_cast<const char*>(data), size);
  auto tmpl = flotilla::ChatTemplate::Parse(source);
  if (!tmpl.ok()) return 0;
  const std::vector<flotilla::ChatMessage> messages = {
      {"system", "be brief"}, {"user", "hello"}, {"assistant", "hi"}, {"user", "and now?"}};
  (void)tmpl->Render(messages, true, "<s>", "</s>");
  return 0;
}
