// A small Jinja2 interpreter for the subset that Hugging Face chat templates use.
//
// Supported: {{ }}, {% %}, {# #}, whitespace control ({%- -%} {{- -}} {%+ +%}), trim_blocks and
// lstrip_blocks (on by default, as transformers renders), {% raw %}; statements if/elif/else,
// for (tuple targets, `if` filter, else, loop.index/index0/revindex/first/last/length/previtem/
// nextitem/cycle), break/continue, set (names, tuples, namespace attributes, blocks), macro,
// generation; expressions with literals, lists, dicts, tuples (as lists), attribute and subscript
// access, slices with steps, calls, filters, tests, `x if c else y`, arithmetic, `~`,
// comparisons, and/or/not, in/not in. Filters, tests, methods and globals: jinja_builtins.cc.
//
// Contract: Parse and Render never throw and never crash on any input. Malformed templates give
// INVALID_ARGUMENT naming the construct and its line and column; raise_exception('m') gives
// INVALID_ARGUMENT whose message contains m; exceeding RenderLimits gives RESOURCE_EXHAUSTED.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "flotilla/status.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace flotilla::jinja {

struct RenderLimits {
  size_t max_output_bytes = size_t{16} << 20;  // the rendered text and any string built on the way
  uint64_t max_steps = 20'000'000;  // statements + expressions + loop iterations + bytes copied / 64
  int max_call_depth = 64;          // nested macro calls
  int max_eval_depth = 1000;        // nested statements + expressions, across macro calls (stack)
  size_t max_collection_size = 1'000'000;  // items in a list built by range(), *, etc.
};

class Template {
 public:
  static StatusOr<Template> Parse(std::string_view source, const LexOptions& options = {});

  // Renders with `variables` as globals (next to the builtins: range, namespace, dict,
  // raise_exception, strftime_now). Thread-safe: rendering does not modify the Template.
  StatusOr<std::string> Render(const ValueDict& variables, const RenderLimits& limits = {}) const;

  const std::string& source() const { return *source_; }

 private:
  std::shared_ptr<const std::string> source_;
  std::shared_ptr<const Stmt> root_;
};

}  // namespace flotilla::jinja
