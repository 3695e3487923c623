// Chat templates as published in the models' tokenizer_config.json, rendered on one
// conversation and compared with the prompt format each family documents.
#include "tokenizer/chat_template.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "shared_dir.h"

namespace flotilla {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
};
const std::vector<ChatMessage> kNoSystem(kConversation.begin() + 1, kConversation.end());

std::string Render(std::string_view source, const std::vector<ChatMessage>& messages, std::string_view bos,
                   std::string_view eos, bool add_generation_prompt = true, const jinja::ValueDict& extra = {}) {
  StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
  if (!t.ok()) return "PARSE ERROR: " + t.status().ToString();
  StatusOr<std::string> r = t->Render(messages, add_generation_prompt, bos, eos, extra);
  return r.ok() ? *r : "ERROR: " + r.status().ToString();
}

// ---- ChatML: Qwen2.5, SmolLM2 -----------------------------------------------------------------

constexpr const char* kChatMlExpected =
    "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
    "<|im_start|>user\nHello<|im_end|>\n"
    "<|im_start|>assistant\nHi there<|im_end|>\n"
    "<|im_start|>user\nWho are you<|im_end|>\n"
    "<|im_start|>assistant\n";

// Qwen/Qwen2.5-7B-Instruct.
constexpr const char* kQwen25 = R"TMPL({%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)TMPL";

TEST(ChatTemplateTest, Qwen25) {
  EXPECT_EQ(Render(kQwen25, kConversation, "", "<|im_end|>"), kChatMlExpected);
  // Without a system message Qwen2.5 supplies its own.
  EXPECT_EQ(Render(kQwen25, {{"user", "Hello"}}, "", "<|im_end|>"),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, Qwen25WithTools) {
  jinja::ValueDict fn;
  fn.Set("name", jinja::Value::String("get_weather"));
  jinja::ValueDict tool;
  tool.Set("type", jinja::Value::String("function"));
  tool.Set("function", jinja::Value::Dict(fn));
  jinja::ValueDict extra;
  extra.Set("tools", jinja::Value::List({jinja::Value::Dict(tool)}));
  const std::string out = Render(kQwen25, {{"user", "Hi"}}, "", "", true, extra);
  EXPECT_NE(out.find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}\n</tools>"),
            std::string::npos)
      << out;
  EXPECT_TRUE(out.starts_with("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                              "assistant.\n\n# Tools\n\n"))
      << out;
}

// HuggingFaceTB/SmolLM2-1.7B-Instruct.
constexpr const char* kSmolLm2 =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' "
    "+ message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}";

TEST(ChatTemplateTest, SmolLm2) {
  EXPECT_EQ(Render(kSmolLm2, kConversation, "<|im_start|>", "<|im_end|>"), kChatMlExpected);
  EXPECT_EQ(Render(kSmolLm2, {{"user", "Hello"}}, "", "", false),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n");
}

TEST(ChatTemplateTest, BuiltInChatMl) {
  EXPECT_EQ(Render(kChatMlTemplate, kConversation, "", ""), kChatMlExpected);
}

// ---- Llama 3 ----------------------------------------------------------------------------------

constexpr const char* kLlama3Expected =
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n";

// meta-llama/Meta-Llama-3-8B-Instruct.
constexpr const char* kLlama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

TEST(ChatTemplateTest, Llama3) {
  EXPECT_EQ(Render(kLlama3, kConversation, "<|begin_of_text|>", "<|eot_id|>"), kLlama3Expected);
  // Content is trimmed.
  EXPECT_EQ(Render(kLlama3, {{"user", "  spaced  "}}, "", "", false),
            "<|start_header_id|>user<|end_header_id|>\n\nspaced<|eot_id|>");
}

// meta-llama/Llama-3.2-3B-Instruct: the long template with tools, dates and ipython messages.
constexpr const char* kLlama32 = R"TMPL({{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)TMPL";

TEST(ChatTemplateTest, Llama32) {
  jinja::ValueDict date;
  date.Set("date_string", jinja::Value::String("26 Jul 2024"));
  EXPECT_EQ(Render(kLlama32, kConversation, "<|begin_of_text|>", "<|eot_id|>", true, date),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
            "You are a helpful assistant<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  // Without date_string the template asks strftime_now for today's date.
  const std::string today = Render(kLlama32, kNoSystem, "", "");
  EXPECT_NE(today.find("Today Date: "), std::string::npos) << today;
  EXPECT_EQ(today.find("ERROR"), std::string::npos) << today;
}

TEST(ChatTemplateTest, Llama32WithTools) {
  jinja::ValueDict props, city, params, fn, tool;
  city.Set("type", jinja::Value::String("string"));
  props.Set("city", jinja::Value::Dict(city));
  params.Set("type", jinja::Value::String("object"));
  params.Set("properties", jinja::Value::Dict(props));
  fn.Set("name", jinja::Value::String("get_weather"));
  fn.Set("parameters", jinja::Value::Dict(params));
  tool.Set("type", jinja::Value::String("function"));
  tool.Set("function", jinja::Value::Dict(fn));
  jinja::ValueDict extra;
  extra.Set("date_string", jinja::Value::String("26 Jul 2024"));
  extra.Set("tools", jinja::Value::List({jinja::Value::Dict(tool)}));
  EXPECT_EQ(Render(kLlama32, {{"system", "Sys"}, {"user", "Weather?"}}, "<|begin_of_text|>", "", true, extra),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nSys<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n"
            "Given the following functions, please respond with a JSON for a function call with its proper "
            "arguments that best answers the given prompt.\n\n"
            "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
            "value}.Do not use variables.\n\n"
            "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n"
            "        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n"
            "                \"city\": {\n                    \"type\": \"string\"\n                }\n"
            "            }\n        }\n    }\n}\n\n"
            "Weather?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

// ---- Llama 2, Zephyr --------------------------------------------------------------------------

// meta-llama/Llama-2-7b-chat-hf.
constexpr const char* kLlama2 =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif "
    "%}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] "
    "== 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

TEST(ChatTemplateTest, Llama2) {
  EXPECT_EQ(Render(kLlama2, kConversation, "<s>", "</s>"),
            "<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>"
            "<s>[INST] Who are you [/INST]");
  const std::string bad = Render(kLlama2, {{"user", "a"}, {"user", "b"}}, "<s>", "</s>");
  EXPECT_NE(bad.find("Conversation roles must alternate user/assistant/user/assistant/..."), std::string::npos) << bad;
}

// HuggingFaceH4/zephyr-7b-beta: relies on trim_blocks for its newlines.
constexpr const char* kZephyr =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% "
    "elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif "
    "%}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

TEST(ChatTemplateTest, Zephyr) {
  EXPECT_EQ(Render(kZephyr, kConversation, "<s>", "</s>"),
            "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n"
            "<|user|>\nWho are you</s>\n<|assistant|>\n");
}

// ---- Gemma ------------------------------------------------------------------------------------

// google/gemma-7b-it (gemma-2 prefixes {{ bos_token }}).
constexpr const char* kGemma =
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for "
    "message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "(message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif "
    "%}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if "
    "add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

TEST(ChatTemplateTest, Gemma) {
  EXPECT_EQ(Render(kGemma, kNoSystem, "<bos>", "<eos>"),
            "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n"
            "<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n");
  StatusOr<ChatTemplate> t = ChatTemplate::Parse(kGemma);
  ASSERT_TRUE(t.ok());
  StatusOr<std::string> r = t->Render(kConversation, true, "<bos>", "<eos>");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("System role not supported"), std::string::npos) << r.status().ToString();
}

// ---- Phi-3 ------------------------------------------------------------------------------------

// microsoft/Phi-3-small-8k-instruct.
constexpr const char* kPhi3Small =
    "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + "
    "'<|end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif "
    "%}";

TEST(ChatTemplateTest, Phi3) {
  const std::string expected =
      "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n"
      "<|user|>\nWho are you<|end|>\n<|assistant|>\n";
  EXPECT_EQ(Render(kPhi3Small, kConversation, "", "<|endoftext|>"), expected);
  EXPECT_EQ(Render(kPhi3Small, kNoSystem, "", "<|endoftext|>", false),
            "<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|endoftext|>");
}

// ---- Mistral ----------------------------------------------------------------------------------

// mistralai/Mistral-7B-Instruct-v0.1 / v0.2 (no system role).
constexpr const char* kMistralV01 =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
    "are supported!') }}{% endif %}{% endfor %}";

// mistralai/Mistral-7B-Instruct-v0.2 later revision ("v1" tokenizer, optional system message).
constexpr const char* kMistralV1 = R"TMPL({%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
)TMPL";

// mistralai/Mistral-Large-Instruct-2407 ("v3" tokenizer; tools; system prompt in the last user turn).
constexpr const char* kMistralV3 = R"TMPL({%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
)TMPL";

// mistralai/Mistral-Large-Instruct-2411 ("v7" tokenizer, [SYSTEM_PROMPT]).
constexpr const char* kMistralV7 =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] "
    "+ '[/INST]' }}{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + message['content'] + "
    "'[/SYSTEM_PROMPT]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% else "
    "%}{{ raise_exception('Only user, system and assistant roles are supported!') }}{% endif %}{% endfor %}";

TEST(ChatTemplateTest, Mistral) {
  EXPECT_EQ(Render(kMistralV01, kNoSystem, "<s>", "</s>"), "<s>[INST] Hello [/INST]Hi there</s>[INST] Who are you [/INST]");
  EXPECT_EQ(Render(kMistralV1, kConversation, "<s>", "</s>"),
            "<s> [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]");
  EXPECT_EQ(Render(kMistralV3, kConversation, "<s>", "</s>"),
            "<s>[INST] Hello[/INST] Hi there</s>[INST] You are a helpful assistant\n\nWho are you[/INST]");
  EXPECT_EQ(Render(kMistralV7, kConversation, "<s>", "</s>"),
            "<s>[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>"
            "[INST] Who are you[/INST]");
  const std::string bad = Render(kMistralV01, kConversation, "<s>", "</s>");
  EXPECT_NE(bad.find("Conversation roles must alternate"), std::string::npos) << bad;
}

TEST(ChatTemplateTest, MistralV3Tools) {
  jinja::ValueDict fn;
  fn.Set("name", jinja::Value::String("get_weather"));
  fn.Set("description", jinja::Value::String("Weather"));
  fn.Set("parameters", jinja::Value::Dict({}));
  jinja::ValueDict tool;
  tool.Set("type", jinja::Value::String("function"));
  tool.Set("function", jinja::Value::Dict(fn));
  jinja::ValueDict extra;
  extra.Set("tools", jinja::Value::List({jinja::Value::Dict(tool)}));
  EXPECT_EQ(Render(kMistralV3, {{"user", "Hi"}}, "<s>", "</s>", true, extra),
            "<s>[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
            "\"description\": \"Weather\", \"parameters\": {}}}][/AVAILABLE_TOOLS][INST] Hi[/INST]");
}

// ---- ApplyChatTemplate ------------------------------------------------------------------------

Vocab MakeVocab(std::optional<std::string> tmpl, std::vector<std::string> tokens, int32_t bos, int32_t eos) {
  Vocab v;
  v.tokens = std::move(tokens);
  v.bos = bos;
  v.eos = eos;
  v.chat_template = std::move(tmpl);
  return v;
}

TEST(ApplyChatTemplateTest, UsesTheVocabTemplateAndTokens) {
  Vocab v = MakeVocab(kLlama3, {"<|begin_of_text|>", "<|eot_id|>"}, 0, 1);
  StatusOr<std::string> r = ApplyChatTemplate(v, kConversation, true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, kLlama3Expected);
}

TEST(ApplyChatTemplateTest, NoTemplateMeansChatMl) {
  Vocab v = MakeVocab(std::nullopt, {"a"}, -1, -1);
  StatusOr<std::string> r = ApplyChatTemplate(v, kConversation, true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, kChatMlExpected);
  v.chat_template = "chatml";  // llama.cpp also accepts the name
  r = ApplyChatTemplate(v, kConversation, true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, kChatMlExpected);
}

TEST(ApplyChatTemplateTest, SystemMergedIntoFirstUserTurnWhenRejected) {
  Vocab v = MakeVocab(kGemma, {"<bos>", "<eos>"}, 0, 1);
  StatusOr<std::string> r = ApplyChatTemplate(v, kConversation, true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\n"
                "Hi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n");
  v.chat_template = kMistralV01;
  v.tokens = {"<s>", "</s>"};
  r = ApplyChatTemplate(v, kConversation, true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "<s>[INST] You are a helpful assistant\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]");
}

TEST(ApplyChatTemplateTest, BrokenTemplateIsAnError) {
  Vocab v = MakeVocab("{% for m in messages %}", {"a"}, -1, -1);
  StatusOr<std::string> r = ApplyChatTemplate(v, kConversation, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("endfor"), std::string::npos) << r.status().ToString();
}

// ---- templates stored in the shared vocab files -----------------------------------------------

using ::flotilla::testutil::SharedDir;

std::optional<std::string> TemplateFromGguf(const std::string& name) {
  const std::string path = SharedDir() + "/models/vocab/" + name;
  if (SharedDir().empty() || !std::filesystem::exists(path)) return std::nullopt;
  StatusOr<gguf::File> file = gguf::File::Open(path);
  if (!file.ok()) return std::nullopt;
  StatusOr<std::string> tmpl = file->GetString("tokenizer.chat_template");
  if (!tmpl.ok()) return std::nullopt;
  return *tmpl;
}

TEST(GgufChatTemplateTest, Qwen3) {
  std::optional<std::string> tmpl = TemplateFromGguf("ggml-vocab-qwen2.gguf");
  if (!tmpl) GTEST_SKIP() << "no ggml-vocab-qwen2.gguf under " << SharedDir();
  EXPECT_EQ(Render(*tmpl, kConversation, "", "<|im_end|>"), kChatMlExpected);
  // Reasoning in the final assistant turn is split out of the content and re-wrapped.
  std::vector<ChatMessage> thinking = kConversation;
  thinking.push_back({"assistant", "<think>\nPondering.\n</think>\n\nI am Qwen."});
  EXPECT_EQ(Render(*tmpl, thinking, "", "", false),
            "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\nHi there<|im_end|>\n"
            "<|im_start|>user\nWho are you<|im_end|>\n"
            "<|im_start|>assistant\n<think>\nPondering.\n</think>\n\nI am Qwen.<|im_end|>\n");
  jinja::ValueDict no_think;
  no_think.Set("enable_thinking", jinja::Value::Bool(false));
  EXPECT_EQ(Render(*tmpl, kNoSystem, "", "", true, no_think),
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n"
            "<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(GgufChatTemplateTest, Llama3Bpe) {
  std::optional<std::string> tmpl = TemplateFromGguf("ggml-vocab-llama-bpe.gguf");
  if (!tmpl) GTEST_SKIP() << "no ggml-vocab-llama-bpe.gguf under " << SharedDir();
  EXPECT_EQ(Render(*tmpl, kConversation, "<|begin_of_text|>", "<|eot_id|>"), kLlama3Expected);
}

TEST(GgufChatTemplateTest, Phi3Mini) {
  std::optional<std::string> tmpl = TemplateFromGguf("ggml-vocab-phi-3.gguf");
  if (!tmpl) GTEST_SKIP() << "no ggml-vocab-phi-3.gguf under " << SharedDir();
  // Phi-3-mini's original template drops system messages.
  EXPECT_EQ(Render(*tmpl, kConversation, "<s>", "<|endoftext|>"),
            "<s><|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n");
}

}  // namespace
}  // namespace flotilla
