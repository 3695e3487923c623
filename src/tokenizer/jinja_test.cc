// Unit tests of the Jinja interpreter: one or more per construct, and each error path.
#include "tokenizer/jinja.h"

#include <string>

#include <gtest/gtest.h>

namespace flotilla::jinja {
namespace {

ValueDict Message(const std::string& role, const std::string& content) {
  ValueDict d;
  d.Set("role", Value::String(role));
  d.Set("content", Value::String(content));
  return d;
}

ValueDict DefaultVars() {
  ValueDict vars;
  vars.Set("messages", Value::List({Value::Dict(Message("system", "sys")), Value::Dict(Message("user", "hi")),
                                    Value::Dict(Message("assistant", "yo"))}));
  vars.Set("name", Value::String("World"));
  vars.Set("n", Value::Int(3));
  vars.Set("flag", Value::Bool(true));
  vars.Set("nothing", Value::None());
  return vars;
}

StatusOr<std::string> Render(std::string_view src, const ValueDict& vars = DefaultVars(),
                             const RenderLimits& limits = {}) {
  ASSIGN_OR_RETURN(Template t, Template::Parse(src));
  return t.Render(vars, limits);
}

// Renders and returns the text, or "ERROR: <status>" so that failures show in the diff.
std::string R(std::string_view src, const ValueDict& vars = DefaultVars()) {
  StatusOr<std::string> r = Render(src, vars);
  return r.ok() ? *r : "ERROR: " + r.status().ToString();
}

Status RenderError(std::string_view src, const RenderLimits& limits = {}) {
  StatusOr<std::string> r = Render(src, DefaultVars(), limits);
  return r.ok() ? Status::Ok() : r.status();
}

TEST(JinjaTest, TextAndOutput) {
  EXPECT_EQ(R("plain text"), "plain text");
  EXPECT_EQ(R("Hello {{ name }}!"), "Hello World!");
  EXPECT_EQ(R("{{ 1 }} {{ 2.5 }} {{ 'a' }} {{ \"b\" }} {{ true }} {{ none }} {{ undefined_var }}|"),
            "1 2.5 a b True None |");
  EXPECT_EQ(R("{{ [1, 'a', none, true] }} {{ {'k': 'v'} }}"), "[1, 'a', None, True] {'k': 'v'}");
  EXPECT_EQ(R("{{ 'it\\'s' }} {{ \"tab\\there\" }} {{ '\\u00e9' }}"), "it's tab\there \xc3\xa9");
  EXPECT_EQ(R("{{ 'a' 'b' }}"), "ab");
}

TEST(JinjaTest, Comments) {
  EXPECT_EQ(R("a{# a comment {{ not rendered }} #}b"), "ab");
  EXPECT_EQ(R("a  {#- strip -#}  b"), "ab");
}

TEST(JinjaTest, WhitespaceControl) {
  EXPECT_EQ(R("a  {{- name -}}  b"), "aWorldb");
  EXPECT_EQ(R("a \n {%- if true -%} \n b {%- endif %}"), "ab");
  // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it.
  EXPECT_EQ(R("{% if true %}\n    x\n    {% endif %}\ny"), "    x\ny");
  EXPECT_EQ(R("line\n  {% if true %}\nA\n  {% endif %}\nend"), "line\nA\nend");
  // Output tags are not affected by trim_blocks / lstrip_blocks.
  EXPECT_EQ(R("  {{ 'x' }}\nz"), "  x\nz");
  // {%+ keeps the indentation; +%} keeps the newline.
  EXPECT_EQ(R("  {%+ if true +%}\nx{% endif %}"), "  \nx");
}

TEST(JinjaTest, WhitespaceControlWithoutTrimBlocks) {
  LexOptions raw;
  raw.trim_blocks = false;
  raw.lstrip_blocks = false;
  StatusOr<Template> t = Template::Parse("  {% if true %}\nx{% endif %}", raw);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->Render({}), "  \nx");
}

TEST(JinjaTest, IfElifElse) {
  const std::string src = "{% if n > 5 %}big{% elif n == 3 %}three{% else %}other{% endif %}";
  EXPECT_EQ(R(src), "three");
  EXPECT_EQ(R("{% if nothing %}a{% elif flag %}b{% endif %}"), "b");
  EXPECT_EQ(R("{% if not flag %}a{% else %}b{% endif %}"), "b");
  EXPECT_EQ(R("{{ 'y' if flag else 'n' }}{{ 'y' if nothing else 'n' }}{{ 'only' if nothing }}."), "yn.");
}

TEST(JinjaTest, ForLoop) {
  EXPECT_EQ(R("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ m.role[0] }}{% endfor %}"),
            "10s21u32a");
  EXPECT_EQ(R("{% for m in messages %}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}"
              "{{ loop.length }}{{ loop.revindex0 }}{% endfor %}"),
            "F3231L30");
  EXPECT_EQ(R("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(R("{% for x in undefined_var %}a{% endfor %}ok"), "ok");
  EXPECT_EQ(R("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(R("{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}"), "ab");
  EXPECT_EQ(R("{% for c in 'h\xc3\xa9!' %}[{{ c }}]{% endfor %}"), "[h][\xc3\xa9][!]");
  // A loop filter runs before loop.* is computed.
  EXPECT_EQ(R("{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role }}{% endfor %}"),
            "1user2assistant");
  EXPECT_EQ(R("{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}"
              "{% endif %}{{ i }}{% endfor %}"),
            "02");
  EXPECT_EQ(R("{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}"), "aba");
  EXPECT_EQ(R("{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %}"), "aus");
}

TEST(JinjaTest, LoopScopeDoesNotLeak) {
  EXPECT_EQ(R("{% set x = 1 %}{% for i in range(2) %}{% set x = 5 %}{% endfor %}{{ x }}"), "1");
}

TEST(JinjaTest, SetAndNamespace) {
  EXPECT_EQ(R("{% set a = 'x' + 'y' %}{{ a }}"), "xy");
  EXPECT_EQ(R("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(R("{% set ns = namespace(found=false, n=0) %}{% for m in messages %}{% if m.role == 'user' %}"
              "{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.found }} {{ ns.n }}"),
            "True 3");
  EXPECT_EQ(R("{% set ns = namespace() %}{% set ns.x = 'v' %}{{ ns.x }}"), "v");
  EXPECT_EQ(R("{% set block %}in {{ name }}{% endset %}[{{ block }}]"), "[in World]");
}

TEST(JinjaTest, Macro) {
  EXPECT_EQ(R("{% macro greet(who, punct='!') %}Hi {{ who }}{{ punct }}{% endmacro %}"
              "{{ greet('A') }} {{ greet('B', '?') }} {{ greet(who='C', punct='.') }}"),
            "Hi A! Hi B? Hi C.");
}

TEST(JinjaTest, AttributesSubscriptsSlices) {
  EXPECT_EQ(R("{{ messages[0]['role'] }} {{ messages[1].content }} {{ messages[-1].role }}"), "system hi assistant");
  EXPECT_EQ(R("{{ messages[1:] | length }} {{ messages[:1][0].role }} {{ (messages[5] is defined) }}"), "2 system False");
  EXPECT_EQ(R("{{ 'abcdef'[1:4] }} {{ 'abcdef'[::-1] }} {{ 'abcdef'[-2:] }} {{ 'abcdef'[::2] }}"), "bcd fedcba ef ace");
  EXPECT_EQ(R("{{ [1,2,3,4][1:-1] }} {{ [1,2,3][5:] }}"), "[2, 3] []");
  EXPECT_EQ(R("{{ messages[0].missing is defined }} {{ messages[0].get('missing', 'd') }}"), "False d");
}

TEST(JinjaTest, Operators) {
  EXPECT_EQ(R("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ -7 // 2 }} {{ 7 / 2 }} {{ 2 ** 10 }}"),
            "7 9 3 1 -4 3.5 1024");
  EXPECT_EQ(R("{{ 'a' ~ 1 ~ none }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ -n }}"), "a1None ababab [1, 2] -3");
  EXPECT_EQ(R("{{ 1 < 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'a' != 'a' }} {{ 2 >= 3 }}"), "True True True False False");
  EXPECT_EQ(R("{{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'x' not in 'abc' }}"),
            "True True True True");
  EXPECT_EQ(R("{{ nothing or 'fallback' }} {{ flag and 'yes' }} {{ not nothing }}"), "fallback yes True");
  // Filters bind tighter than +: only the content is trimmed.
  EXPECT_EQ(R("{{ '<' + '  x  ' | trim + '>' }}"), "<x>");
}

TEST(JinjaTest, Tests) {
  EXPECT_EQ(R("{{ name is defined }} {{ nope is undefined }} {{ nothing is none }} {{ name is string }}"),
            "True True True True");
  EXPECT_EQ(R("{{ n is number }} {{ n is integer }} {{ 1.5 is float }} {{ flag is boolean }} {{ n is odd }} "
              "{{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }}"),
            "True True True True True True True False");
  EXPECT_EQ(R("{{ messages[0] is mapping }} {{ messages is iterable }} {{ messages is sequence }} "
              "{{ name is not none }} {{ 'a' is in 'abc' }} {{ 2 is eq 2 }} {{ 3 is gt 2 }}"),
            "True True True True True True True");
}

TEST(JinjaTest, Filters) {
  EXPECT_EQ(R("{{ '  x  ' | trim }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}|{{ 'hello world' | capitalize }}|"
              "{{ 'hello world' | title }}"),
            "x|AB|ab|Hello world|Hello World");
  EXPECT_EQ(R("{{ messages | length }} {{ 'h\xc3\xa9' | length }} {{ [1, 2] | join(', ') }} {{ ['a','b'] | join }}"),
            "3 2 1, 2 ab");
  EXPECT_EQ(R("{{ nope | default('d') }} {{ '' | default('d', true) }} {{ name | d('x') }}"), "d d World");
  EXPECT_EQ(R("{{ 'a-b-c' | replace('-', '+') }} {{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 12 | string }}"),
            "a+b+c 1 3 12");
  EXPECT_EQ(R("{{ {'a': 1} | items | list }} {{ [3, 1, 2] | sort }} {{ [1, 2] | reverse | list }} {{ '5' | int + 1 }}"),
            "[['a', 1]] [1, 2, 3] [2, 1] 6");
  EXPECT_EQ(R("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} "
              "{{ messages | rejectattr('role', 'eq', 'user') | list | length }}"),
            "['hi'] 2");
  EXPECT_EQ(R("{{ ['a', 'B'] | map('upper') | join }} {{ [0, 1, 2] | select('odd') | list }}"), "AB [1]");
}

TEST(JinjaTest, ToJson) {
  EXPECT_EQ(R("{{ {'a': [1, 2.5, none, true], 'b': 'q\"\\n'} | tojson }}"),
            "{\"a\": [1, 2.5, null, true], \"b\": \"q\\\"\\n\"}");
  EXPECT_EQ(R("{{ {'a': [1], 'b': {}} | tojson(indent=2) }}"), "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}");
  EXPECT_EQ(R("{{ '\xc3\xa9' | tojson }}"), "\"\xc3\xa9\"");
}

TEST(JinjaTest, Methods) {
  EXPECT_EQ(R("{{ '  x '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n\\nx'.lstrip('\\n') }}|{{ 'x  '.rstrip() }}"),
            "x|a|x|x");
  EXPECT_EQ(R("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'Ab'.upper() }}{{ 'Ab'.lower() }}"),
            "True True ABab");
  EXPECT_EQ(R("{{ 'a</think>b</think>c'.split('</think>') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }}"),
            "['a', 'b', 'c'] ['a', 'b'] ['a', 'b,c']");
  EXPECT_EQ(R("{{ 'x'.split('</think>')[-1] }} {{ {'a': 1}.items() | list }} {{ {'a': 1}.keys() }} {{ {'a': 1}.values() }}"),
            "x [['a', 1]] ['a'] [1]");
  EXPECT_EQ(R("{{ 'user'.title() }} {{ 'a b'.replace(' ', '_') }} {{ '-'.join(['a', 'b']) }}"), "User a_b a-b");
}

TEST(JinjaTest, Globals) {
  EXPECT_EQ(R("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(3, 0, -1) | list }}"),
            "[0, 1, 2] [1, 3, 5] [3, 2, 1]");
  EXPECT_EQ(R("{{ dict(a=1)['a'] }} {{ strftime_now('%Y') | length }} {{ strftime_now is defined }}"), "1 4 True");
  EXPECT_EQ(R("{% raw %}{{ not evaluated }}{% endraw %}"), "{{ not evaluated }}");
  EXPECT_EQ(R("{% generation %}kept{% endgeneration %}"), "kept");
}

// ---- errors ----

void ExpectError(std::string_view src, StatusCode code, const std::string& fragment) {
  Status st = RenderError(src);
  EXPECT_EQ(st.code(), code) << src << " -> " << st.ToString();
  EXPECT_NE(st.message().find(fragment), std::string::npos) << src << " -> " << st.ToString();
}

TEST(JinjaErrorTest, Syntax) {
  ExpectError("abc {{ name ", StatusCode::kInvalidArgument, "unterminated tag '{{' at line 1, column 5");
  ExpectError("{% if x ", StatusCode::kInvalidArgument, "unterminated tag '{%'");
  ExpectError("{# no end", StatusCode::kInvalidArgument, "unterminated comment");
  ExpectError("{{ 'abc }}", StatusCode::kInvalidArgument, "unterminated string");
  ExpectError("\n{% if x %}a", StatusCode::kInvalidArgument, "unclosed '{% if %}' (expected '{% endif %}') at line 2");
  ExpectError("{% for x in y %}", StatusCode::kInvalidArgument, "expected '{% endfor %}'");
  ExpectError("{% endif %}", StatusCode::kInvalidArgument, "unexpected '{% endif %}'");
  ExpectError("{% include 'x' %}", StatusCode::kInvalidArgument, "unsupported tag '{% include %}'");
  ExpectError("{% frobnicate %}", StatusCode::kInvalidArgument, "unsupported tag '{% frobnicate %}'");
  ExpectError("{{ 1 + }}", StatusCode::kInvalidArgument, "expected an expression, found '}}'");
  ExpectError("{{ a b }}", StatusCode::kInvalidArgument, "expected '}}', found 'b'");
  ExpectError("{{ $ }}", StatusCode::kInvalidArgument, "unexpected character '$'");
  ExpectError("{% raw %}never closed", StatusCode::kInvalidArgument, "unterminated '{% raw %}'");
}

TEST(JinjaErrorTest, Runtime) {
  ExpectError("{{ name | frobnicate }}", StatusCode::kInvalidArgument, "unknown filter 'frobnicate' at line 1");
  ExpectError("{{ name is frobnicated }}", StatusCode::kInvalidArgument, "unknown test 'frobnicated'");
  ExpectError("{{ nosuch(1) }}", StatusCode::kInvalidArgument, "unknown function 'nosuch'");
  ExpectError("{{ raise_exception('Roles must alternate') }}", StatusCode::kInvalidArgument,
              "raised an exception: Roles must alternate");
  ExpectError("{{ nope.attr }}", StatusCode::kInvalidArgument, "'nope' is undefined");
  ExpectError("{{ 'a' + 1 }}", StatusCode::kInvalidArgument, "unsupported operand types for +: 'str' and 'int'");
  ExpectError("{{ 1 // 0 }}", StatusCode::kInvalidArgument, "division by zero");
  ExpectError("{{ 'a' < 1 }}", StatusCode::kInvalidArgument, "not supported between");
  ExpectError("{% set name.x = 1 %}", StatusCode::kInvalidArgument, "not a namespace");
  ExpectError("{% for x in 5 %}{% endfor %}", StatusCode::kInvalidArgument, "not iterable");
  ExpectError("{% break %}", StatusCode::kInvalidArgument, "outside a loop");
  ExpectError("{{ undefined_var | tojson }}", StatusCode::kInvalidArgument, "is undefined");
  ExpectError("{{ 9223372036854775807 + 1 }}", StatusCode::kInvalidArgument, "integer overflow");
}

TEST(JinjaErrorTest, RunawayWorkIsBounded) {
  RenderLimits small;
  small.max_steps = 100'000;
  small.max_output_bytes = 1 << 16;
  small.max_collection_size = 10'000;
  // A loop that never finishes in practice.
  Status st = RenderError("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", small);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  // Output that doubles.
  st = RenderError("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
                   small);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  st = RenderError("{{ 'x' * 100000000000 }}", small);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  EXPECT_EQ(R("{{ '' * 1000000000000000000 }}{{ [] * 1000000000000000000 }}"), "[]");
  st = RenderError("{{ range(100000000000) }}", small);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  // Work proportional to a large string is charged per use.
  st = RenderError("{% set s = 'x' * 60000 %}{% for i in range(1000) %}{{ s[5] }}{{ s.strip()[:1] }}{% endfor %}", small);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  st = RenderError("{% for c in 'x' * 60000 %}{% endfor %}", small);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  // Unbounded recursion.
  st = RenderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
}

TEST(JinjaErrorTest, DeepNestingIsRejectedNotACrash) {
  const std::string deep = "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}";
  Status st = RenderError(deep);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("nested too deeply"), std::string::npos) << st.ToString();
  std::string blocks;
  for (int i = 0; i < 5000; ++i) blocks += "{% if true %}";
  st = RenderError(blocks);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  std::string lists = "{{ " + std::string(50000, '[') + " }}";
  EXPECT_FALSE(RenderError(lists).ok());
}

TEST(JinjaErrorTest, DeepRecursionThroughMacrosIsBounded) {
  // Each macro level nests 30 ifs; 64 levels of macro calls would need a deep native stack.
  std::string body;
  for (int i = 0; i < 30; ++i) body += "{% if true %}";
  body += "{{ f(n + 1) }}";
  for (int i = 0; i < 30; ++i) body += "{% endif %}";
  Status st = RenderError("{% macro f(n) %}" + body + "{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  // Realistic nesting is far from the limits.
  EXPECT_EQ(R("{{ ((((((((((((((((((((1)))))))))))))))))))) + 1 }}"), "2");
}

TEST(JinjaErrorTest, MutatedTemplatesNeverCrash) {
  const std::string seeds[] = {
      "{%- set ns = namespace(i=0) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.i = ns.i + 1 %}"
      "{% endif %}{{- '<|' + m['role'] + '|>\\n' + m.content | trim + eos }}{% endfor %}{{ ns.i }}",
      "{% macro f(x, y=[1, {'a': 2}]) %}{{ x ~ y[1].a }}{% endmacro %}{{ f(messages[::-1][0].role) }}"
      "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(', ') }}",
      "{{ 'a b'.split()[-1:] }}{% for k, v in {'x': 1}.items() if v %}{{ loop.index ~ k }}{% else %}e{% endfor %}"
      "{# c #}{{ range(3) | list | tojson(indent=2) }}{{ 1 if n is odd else 2 ** 3 // 2 % 5 }}",
  };
  const std::string alphabet = "{}%#-+()[]'\".:|~,=!<>*/ abcfinorstx0129\n";
  uint64_t rng = 12345;
  auto next = [&]() {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>(rng >> 33);
  };
  RenderLimits limits;
  limits.max_steps = 20'000;
  limits.max_output_bytes = 1 << 16;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string src = seeds[iter % 3];
    for (size_t k = 1 + next() % 4; k > 0; --k) {
      const size_t pos = next() % (src.size() + 1);
      switch (next() % 3) {
        case 0: src.insert(pos, 1, alphabet[next() % alphabet.size()]); break;
        case 1: if (pos < src.size()) src.erase(pos, 1 + next() % 8); break;
        default: if (pos < src.size()) src[pos] = alphabet[next() % alphabet.size()];
      }
    }
    (void)Render(src, DefaultVars(), limits);
  }
}

TEST(JinjaErrorTest, SelfReferenceIsRejected) {
  Status st = RenderError("{% set ns = namespace() %}{% set ns.me = [ns] %}{{ ns }}");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("namespace inside itself"), std::string::npos) << st.ToString();
}

TEST(JinjaErrorTest, GarbageNeverCrashes) {
  // Every prefix of a realistic template either parses or fails cleanly.
  const std::string src =
      "{%- set ns = namespace(x=[1, {'a': (2, 3)}]) -%}{% for m in messages[::-1] if m.role %}"
      "{{- m['content'] | trim ~ ns.x[1].a[0] }}{% else %}{# c #}{% endfor %}{{ 'a' if b else \"c\" }}";
  for (size_t n = 0; n <= src.size(); ++n) {
    (void)Render(src.substr(0, n));
  }
}

}  // namespace
}  // namespace flotilla::jinja
