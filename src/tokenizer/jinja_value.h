// Values of the Jinja interpreter (src/tokenizer/jinja.h): Python-like dynamic values with
// reference semantics for lists, dicts and namespaces (copies share storage, as in Python).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flotilla/status.h"

namespace flotilla::jinja {

class Value;
class Interpreter;

using ValueList = std::vector<Value>;

class ValueDict;
struct CallArgs;

// A callable: a builtin (range, namespace, raise_exception, ...) or a template macro.
using NativeFunction = std::function<StatusOr<Value>(Interpreter& interp, const CallArgs& args)>;

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kFunction };

  Value() = default;  // undefined
  static Value Undefined(std::string name = "") { Value v; v.s_ = std::move(name); return v; }
  static Value None() { return Value(Kind::kNone); }
  static Value Bool(bool b) { Value v(Kind::kBool); v.b_ = b; return v; }
  static Value Int(int64_t i) { Value v(Kind::kInt); v.i_ = i; return v; }
  static Value Float(double f) { Value v(Kind::kFloat); v.f_ = f; return v; }
  static Value String(std::string s) { Value v(Kind::kString); v.s_ = std::move(s); return v; }
  static Value List(ValueList items);
  static Value Dict(ValueDict dict);
  static Value Namespace(ValueDict dict);
  static Value Function(std::string name, NativeFunction fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_mapping() const { return kind_ == Kind::kDict || kind_ == Kind::kNamespace; }

  bool bool_value() const { return b_; }
  int64_t int_value() const { return kind_ == Kind::kBool ? int64_t{b_} : i_; }
  double float_value() const { return kind_ == Kind::kFloat ? f_ : static_cast<double>(int_value()); }
  // String contents; for undefined values, the name that was looked up (for error messages).
  const std::string& str() const { return s_; }
  // Shared storage: mutating through a copy mutates the original (Python reference semantics).
  ValueList& list() const { return *list_; }
  ValueDict& dict() const { return *dict_; }
  const NativeFunction& function() const { return *fn_; }
  const void* identity() const;  // storage address for lists/dicts/namespaces, else nullptr

  // Python truthiness: undefined/none/false/0/""/[]/{} are false.
  bool Truthy() const;
  // "string", "int", "list", ... (Python type names, for error messages).
  std::string_view TypeName() const;

 private:
  explicit Value(Kind kind) : kind_(kind) {}
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<const NativeFunction> fn_;
};

// A dict with string keys in insertion order (Python dicts keep insertion order; templates that
// print or iterate dicts depend on it). Linear lookup: template dicts are small.
class ValueDict {
 public:
  const Value* Find(std::string_view key) const;
  void Set(std::string key, Value value);
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }
  size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<std::string, Value>> items_;
};

// Arguments of a call: positional, then keyword, as written.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  const Value* Keyword(std::string_view name) const;
};


// Nesting bound for printing, comparing and serialising values (namespaces can hold themselves).
inline constexpr int kMaxValueDepth = 64;

// What `{{ v }}` prints: Python str() (None -> "None", True -> "True", lists as repr).
std::string ToOutputString(const Value& v);
// Python repr(): strings quoted with '...'.
std::string ToRepr(const Value& v);
// Python json.dumps(v, ensure_ascii=False), indent < 0 for the compact form with ", " and ": ".
// INVALID_ARGUMENT for undefined values and functions, or nesting deeper than kMaxValueDepth.
StatusOr<std::string> ToJson(const Value& v, int indent);
// Python ==: numbers compare by value, containers deeply.
bool ValuesEqual(const Value& a, const Value& b);
// Python <: numbers with numbers, strings with strings, lists lexicographically; nullopt otherwise.
std::optional<int> CompareValues(const Value& a, const Value& b);
// True when `v` contains (or is) the container whose storage is `identity`.
bool ValueContains(const Value& v, const void* identity, int depth = 0);

// UTF-8 helpers: strings index and measure by code point, as Python does.
std::vector<size_t> CodePointOffsets(std::string_view s);  // byte offset of each code point, plus size
size_t CodePointCount(std::string_view s);

}  // namespace flotilla::jinja
