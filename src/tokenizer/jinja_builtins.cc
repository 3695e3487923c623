// Builtin filters, tests, methods and globals of the Jinja interpreter: the ones Hugging Face
// chat templates use, with Python/Jinja2 semantics (ASCII case mapping).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

#include "tokenizer/jinja_interp.h"

namespace flotilla::jinja {
namespace {

constexpr size_t kMaxCharsAsList = 1'000'000;
constexpr std::string_view kPyWhitespace = " \t\n\r\v\f\x1c\x1d\x1e\x1f";

// Positional argument `index`, else keyword `name`, else nullptr.
const Value* Arg(const CallArgs& args, size_t index, std::string_view name) {
  if (index < args.positional.size()) return &args.positional[index];
  return args.Keyword(name);
}

Status NeedString(const Value& v, std::string_view what) {
  if (v.is_string()) return Status::Ok();
  if (v.is_undefined()) return InvalidArgumentError("'" + v.str() + "' is undefined (in " + std::string(what) + ")");
  return InvalidArgumentError(std::string(what) + " expects a string, got '" + std::string(v.TypeName()) + "'");
}

// Characters to strip: Python whitespace, or the given chars (none/undefined mean whitespace).
StatusOr<std::string> StripSet(const Value* chars) {
  if (chars == nullptr || chars->is_none() || chars->is_undefined()) return std::string(kPyWhitespace);
  RETURN_IF_ERROR(NeedString(*chars, "strip"));
  return chars->str();
}

std::string Strip(const std::string& s, std::string_view set, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e && set.find(s[b]) != std::string_view::npos) ++b;
  }
  if (right) {
    while (e > b && set.find(s[e - 1]) != std::string_view::npos) --e;
  }
  return s.substr(b, e - b);
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string Capitalize(std::string s) {
  s = Lower(std::move(s));
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}
std::string Title(std::string s) {
  bool prev_letter = false;
  for (char& c : s) {
    const bool letter = std::isalpha(static_cast<unsigned char>(c));
    c = static_cast<char>(prev_letter ? std::tolower(static_cast<unsigned char>(c))
                                      : std::toupper(static_cast<unsigned char>(c)));
    prev_letter = letter;
  }
  return s;
}

StatusOr<std::string> Replace(Interpreter& interp, const std::string& s, const Value* from, const Value* to,
                              const Value* count) {
  if (from == nullptr || to == nullptr) return InvalidArgumentError("replace needs two arguments");
  RETURN_IF_ERROR(NeedString(*from, "replace"));
  RETURN_IF_ERROR(NeedString(*to, "replace"));
  int64_t limit = count && count->is_number() ? count->int_value() : -1;
  std::string out;
  size_t pos = 0;
  if (from->str().empty()) {  // Python inserts `to` between every character
    const std::vector<size_t> offs = CodePointOffsets(s);
    for (size_t i = 0; i + 1 < offs.size() || i == 0; ++i) {
      if (limit-- != 0) out += to->str();
      if (i + 1 < offs.size()) out.append(s, offs[i], offs[i + 1] - offs[i]);
      if (i + 1 >= offs.size()) break;
      RETURN_IF_ERROR(interp.CheckSize(out.size()));
    }
    if (!s.empty() && limit != 0) out += to->str();
    return out;
  }
  while (limit != 0) {
    const size_t hit = s.find(from->str(), pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to->str();
    RETURN_IF_ERROR(interp.CheckSize(out.size()));
    pos = hit + from->str().size();
    --limit;
  }
  out.append(s, pos);
  RETURN_IF_ERROR(interp.CheckSize(out.size()));
  return out;
}

// Python str.split(sep=None, maxsplit=-1).
StatusOr<Value> Split(const std::string& s, const Value* sep, const Value* maxsplit) {
  int64_t limit = maxsplit && maxsplit->is_number() ? maxsplit->int_value() : -1;
  ValueList parts;
  if (sep == nullptr || sep->is_none()) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && kPyWhitespace.find(s[i]) != std::string_view::npos) ++i;
      if (i >= s.size()) break;
      if (limit == 0) {
        parts.push_back(Value::String(Strip(s.substr(i), kPyWhitespace, false, true)));
        break;
      }
      size_t j = i;
      while (j < s.size() && kPyWhitespace.find(s[j]) == std::string_view::npos) ++j;
      parts.push_back(Value::String(s.substr(i, j - i)));
      --limit;
      i = j;
    }
    return Value::List(std::move(parts));
  }
  RETURN_IF_ERROR(NeedString(*sep, "split"));
  if (sep->str().empty()) return InvalidArgumentError("split: empty separator");
  size_t pos = 0;
  while (limit != 0) {
    const size_t hit = s.find(sep->str(), pos);
    if (hit == std::string::npos) break;
    parts.push_back(Value::String(s.substr(pos, hit - pos)));
    pos = hit + sep->str().size();
    --limit;
  }
  parts.push_back(Value::String(s.substr(pos)));
  return Value::List(std::move(parts));
}

// startswith/endswith accept a string or a tuple (list) of strings.
StatusOr<Value> AffixTest(const std::string& s, const Value* arg, bool prefix) {
  if (arg == nullptr) return InvalidArgumentError(prefix ? "startswith needs an argument" : "endswith needs an argument");
  std::vector<Value> options = arg->is_list() ? arg->list() : std::vector<Value>{*arg};
  for (const Value& o : options) {
    RETURN_IF_ERROR(NeedString(o, prefix ? "startswith" : "endswith"));
    if (prefix ? s.starts_with(o.str()) : s.ends_with(o.str())) return Value::Bool(true);
  }
  return Value::Bool(false);
}

StatusOr<int64_t> Length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return static_cast<int64_t>(CodePointCount(v.str()));
    case Value::Kind::kList: return static_cast<int64_t>(v.list().size());
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: return static_cast<int64_t>(v.dict().size());
    default: return InvalidArgumentError("object of type '" + std::string(v.TypeName()) + "' has no length");
  }
}

StatusOr<ValueList> AsList(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return ValueList{};
    case Value::Kind::kList: return v.list();
    case Value::Kind::kDict: {
      ValueList keys;
      for (const auto& [k, item] : v.dict().items()) keys.push_back(Value::String(k));
      return keys;
    }
    case Value::Kind::kString: {
      if (v.str().size() > kMaxCharsAsList) return ResourceExhaustedError("string too long to split into characters");
      ValueList chars;
      const std::vector<size_t> offs = CodePointOffsets(v.str());
      for (size_t i = 0; i + 1 < offs.size(); ++i) chars.push_back(Value::String(v.str().substr(offs[i], offs[i + 1] - offs[i])));
      return chars;
    }
    default: return InvalidArgumentError("'" + std::string(v.TypeName()) + "' object is not iterable");
  }
}

Value Items(const Value& v) {
  ValueList pairs;
  if (v.is_mapping()) {
    for (const auto& [k, item] : v.dict().items()) pairs.push_back(Value::List({Value::String(k), item}));
  }
  return Value::List(std::move(pairs));
}

// Looks up a (possibly dotted) attribute path, as selectattr/map/join(attribute=) do.
Value GetAttrPath(const Value& v, const std::string& path) {
  Value cur = v;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur.is_mapping()) {
      const Value* next = cur.dict().Find(part);
      cur = next ? *next : Value::Undefined(part);
    } else if (cur.is_list() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      const size_t i = std::stoul(part);
      cur = i < cur.list().size() ? cur.list()[i] : Value::Undefined(part);
    } else {
      return Value::Undefined(part);
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

// select/reject/selectattr/rejectattr: args are [attribute,] [test, test args...].
StatusOr<Value> SelectFilter(Interpreter& interp, const Value& v, const CallArgs& args, bool by_attr, bool keep) {
  ASSIGN_OR_RETURN(ValueList items, AsList(v));
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    if (args.positional.empty() || !args.positional[0].is_string()) {
      return InvalidArgumentError("selectattr/rejectattr need an attribute name");
    }
    attr = args.positional[0].str();
    next = 1;
  }
  std::string test;
  CallArgs test_args;
  if (next < args.positional.size()) {
    RETURN_IF_ERROR(NeedString(args.positional[next], "select test name"));
    test = args.positional[next].str();
    test_args.positional.assign(args.positional.begin() + next + 1, args.positional.end());
  }
  ValueList out;
  for (const Value& item : items) {
    RETURN_IF_ERROR(interp.Charge(1));
    const Value subject = by_attr ? GetAttrPath(item, attr) : item;
    bool pass = subject.Truthy();
    if (!test.empty()) {
      ASSIGN_OR_RETURN(pass, ApplyTest(interp, test, subject, test_args));
    }
    if (pass == keep) out.push_back(item);
  }
  return Value::List(std::move(out));
}

StatusOr<Value> MapFilter(Interpreter& interp, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(ValueList items, AsList(v));
  ValueList out;
  const Value* attr = args.Keyword("attribute");
  const Value* def = args.Keyword("default");
  for (const Value& item : items) {
    RETURN_IF_ERROR(interp.Charge(1));
    if (attr != nullptr) {
      RETURN_IF_ERROR(NeedString(*attr, "map attribute"));
      Value got = GetAttrPath(item, attr->str());
      out.push_back(got.is_undefined() && def != nullptr ? *def : got);
      continue;
    }
    if (args.positional.empty()) return InvalidArgumentError("map needs a filter name or attribute=");
    RETURN_IF_ERROR(NeedString(args.positional[0], "map filter name"));
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    ASSIGN_OR_RETURN(Value mapped, ApplyFilter(interp, args.positional[0].str(), item, rest));
    out.push_back(std::move(mapped));
  }
  return Value::List(std::move(out));
}

StatusOr<Value> JoinFilter(Interpreter& interp, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(ValueList items, AsList(v));
  const Value* sep = Arg(args, 0, "d");
  const Value* attr = Arg(args, 1, "attribute");
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0 && sep != nullptr) out += ToOutputString(*sep);
    out += ToOutputString(attr != nullptr && attr->is_string() ? GetAttrPath(items[i], attr->str()) : items[i]);
    RETURN_IF_ERROR(interp.CheckSize(out.size()));
  }
  RETURN_IF_ERROR(interp.Charge(out.size() / 64 + items.size()));
  return Value::String(std::move(out));
}

StatusOr<Value> SortFilter(Interpreter& interp, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(ValueList items, AsList(v));
  const Value* reverse = Arg(args, 0, "reverse");
  const Value* attr = args.Keyword("attribute");
  RETURN_IF_ERROR(interp.Charge(items.size() * 8));
  Status st;
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    const Value x = attr && attr->is_string() ? GetAttrPath(a, attr->str()) : a;
    const Value y = attr && attr->is_string() ? GetAttrPath(b, attr->str()) : b;
    std::optional<int> c = CompareValues(x, y);
    if (!c) st = InvalidArgumentError("sort: values are not comparable");
    return c.value_or(0) < 0;
  });
  RETURN_IF_ERROR(st);
  if (reverse && reverse->Truthy()) std::reverse(items.begin(), items.end());
  return Value::List(std::move(items));
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

StatusOr<Value> StringFilter(Interpreter& interp, std::string_view name, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(NeedString(v, name));
  const std::string& s = v.str();
  if (name == "trim" || name == "strip") {
    ASSIGN_OR_RETURN(std::string set, StripSet(Arg(args, 0, "chars")));
    return Value::String(Strip(s, set, true, true));
  }
  if (name == "upper") return Value::String(Upper(s));
  if (name == "lower") return Value::String(Lower(s));
  if (name == "capitalize") return Value::String(Capitalize(s));
  if (name == "title") return Value::String(Title(s));
  if (name == "escape" || name == "e") return Value::String(HtmlEscape(s));
  // replace
  ASSIGN_OR_RETURN(std::string r, Replace(interp, s, Arg(args, 0, "old"), Arg(args, 1, "new"), Arg(args, 2, "count")));
  return Value::String(std::move(r));
}

StatusOr<Value> NumberFilter(std::string_view name, const Value& v, const CallArgs& args) {
  const Value* def = Arg(args, 0, "default");
  if (name == "int" || name == "float") {
    const bool to_int = name == "int";
    if (v.is_number()) return to_int ? Value::Int(static_cast<int64_t>(v.float_value())) : Value::Float(v.float_value());
    if (v.is_string()) {
      const std::string t = Strip(v.str(), kPyWhitespace, true, true);
      char* end = nullptr;
      const double d = std::strtod(t.c_str(), &end);
      if (!t.empty() && end == t.c_str() + t.size() && std::isfinite(d) && std::fabs(d) < 9e18) {
        return to_int ? Value::Int(static_cast<int64_t>(d)) : Value::Float(d);
      }
    }
    if (def != nullptr) return *def;
    return to_int ? Value::Int(0) : Value::Float(0);
  }
  if (!v.is_number()) return InvalidArgumentError(std::string(name) + " expects a number");
  if (name == "abs") {
    if (v.kind() == Value::Kind::kFloat) return Value::Float(std::fabs(v.float_value()));
    if (v.int_value() == INT64_MIN) return InvalidArgumentError("integer overflow");
    return Value::Int(std::llabs(v.int_value()));
  }
  // round(precision=0, method='common')
  const Value* prec = Arg(args, 0, "precision");
  const Value* method = Arg(args, 1, "method");
  const int64_t p = prec && prec->is_number() ? std::clamp<int64_t>(prec->int_value(), -300, 300) : 0;
  const double scale = std::pow(10.0, static_cast<double>(p));
  double x = v.float_value() * scale;
  const std::string m = method && method->is_string() ? method->str() : "common";
  x = m == "ceil" ? std::ceil(x) : m == "floor" ? std::floor(x) : std::round(x);
  return Value::Float(x / scale);
}

// sum, min and max of a sequence.
StatusOr<Value> AggregateFilter(std::string_view name, const Value& v) {
  ASSIGN_OR_RETURN(ValueList items, AsList(v));
  if (name == "sum") {
    Value total = Value::Int(0);
    for (const Value& item : items) {
      if (!item.is_number()) return InvalidArgumentError("sum: non-numeric item");
      int64_t sum = 0;
      if (total.kind() == Value::Kind::kFloat || item.kind() == Value::Kind::kFloat) {
        total = Value::Float(total.float_value() + item.float_value());
      } else if (__builtin_add_overflow(total.int_value(), item.int_value(), &sum)) {
        return InvalidArgumentError("sum: integer overflow");
      } else {
        total = Value::Int(sum);
      }
    }
    return total;
  }
  if (items.empty()) return Value::Undefined(std::string(name));
  Value best = items[0];
  for (const Value& item : items) {
    std::optional<int> c = CompareValues(item, best);
    if (!c) return InvalidArgumentError(std::string(name) + ": values are not comparable");
    if ((name == "min" && *c < 0) || (name == "max" && *c > 0)) best = item;
  }
  return best;
}

// Filters over lists, dicts and strings-as-sequences.
StatusOr<Value> CollectionFilter(Interpreter& interp, std::string_view name, const Value& v, const CallArgs& args) {
  if (name == "join") return JoinFilter(interp, v, args);
  if (name == "items") return Items(v);
  if (name == "list") {
    ASSIGN_OR_RETURN(ValueList items, AsList(v));
    return Value::List(std::move(items));
  }
  if (name == "first" || name == "last") {
    ASSIGN_OR_RETURN(ValueList items, AsList(v));
    if (items.empty()) return Value::Undefined(std::string(name));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "reverse") {
    if (v.is_string()) {
      ASSIGN_OR_RETURN(ValueList chars, AsList(v));
      std::string s;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) s += it->str();
      return Value::String(std::move(s));
    }
    ASSIGN_OR_RETURN(ValueList items, AsList(v));
    std::reverse(items.begin(), items.end());
    return Value::List(std::move(items));
  }
  if (name == "sort") return SortFilter(interp, v, args);
  if (name == "select" || name == "reject") return SelectFilter(interp, v, args, false, name == "select");
  if (name == "selectattr" || name == "rejectattr") return SelectFilter(interp, v, args, true, name == "selectattr");
  if (name == "map") return MapFilter(interp, v, args);
  if (name == "sum" || name == "min" || name == "max") return AggregateFilter(name, v);
  return InvalidArgumentError("unknown filter '" + std::string(name) + "'");
}

}  // namespace

uint64_t WorkUnits(const Value& v) {
  if (v.is_string()) return 1 + v.str().size() / 64;
  if (v.is_list()) return 1 + v.list().size();
  if (v.is_mapping()) return 1 + v.dict().size();
  return 1;
}

StatusOr<Value> ApplyFilter(Interpreter& interp, std::string_view name, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(interp.Charge(WorkUnits(v)));
  if (name == "trim" || name == "strip" || name == "upper" || name == "lower" || name == "capitalize" || name == "title" ||
      name == "replace" || name == "escape" || name == "e") {
    return StringFilter(interp, name, v, args);
  }
  if (name == "int" || name == "float" || name == "abs" || name == "round") return NumberFilter(name, v, args);
  if (name == "length" || name == "count") {
    ASSIGN_OR_RETURN(int64_t n, Length(v));
    return Value::Int(n);
  }
  if (name == "tojson") {
    const Value* indent = Arg(args, 0, "indent");
    ASSIGN_OR_RETURN(std::string json, ToJson(v, indent && indent->is_number() ? static_cast<int>(std::clamp<int64_t>(indent->int_value(), 0, 64)) : -1));
    RETURN_IF_ERROR(interp.CheckSize(json.size()));
    return Value::String(std::move(json));
  }
  if (name == "default" || name == "d") {
    const Value* def = Arg(args, 0, "default_value");
    const Value* boolean = Arg(args, 1, "boolean");
    const bool use_default = v.is_undefined() || (boolean && boolean->Truthy() && !v.Truthy());
    if (!use_default) return v;
    return def ? *def : Value::String("");
  }
  if (name == "string") return Value::String(ToOutputString(v));
  if (name == "safe") return v;
  return CollectionFilter(interp, name, v, args);
}

StatusOr<bool> ApplyTest(Interpreter& interp, std::string_view name, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(interp.Charge(WorkUnits(v) + (args.positional.empty() ? 0 : WorkUnits(args.positional[0]))));
  using K = Value::Kind;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.kind() == K::kInt || v.kind() == K::kFloat;
  if (name == "integer") return v.kind() == K::kInt;
  if (name == "float") return v.kind() == K::kFloat;
  if (name == "boolean") return v.kind() == K::kBool;
  if (name == "true") return v.kind() == K::kBool && v.bool_value();
  if (name == "false") return v.kind() == K::kBool && !v.bool_value();
  if (name == "mapping") return v.kind() == K::kDict;
  if (name == "iterable") return v.is_list() || v.is_string() || v.kind() == K::kDict || v.is_undefined();
  if (name == "sequence") return v.is_list() || v.is_string() || v.kind() == K::kDict;
  if (name == "callable") return v.kind() == K::kFunction;
  if (name == "lower") return v.is_string() && Lower(v.str()) == v.str();
  if (name == "upper") return v.is_string() && Upper(v.str()) == v.str();
  if (name == "even" || name == "odd" || name == "divisibleby") {
    if (v.kind() != K::kInt && v.kind() != K::kBool) return InvalidArgumentError("test '" + std::string(name) + "' needs an integer");
    if (name != "divisibleby") return (v.int_value() % 2 == 0) == (name == "even");
    const Value* d = Arg(args, 0, "num");
    if (d == nullptr || !d->is_number() || d->int_value() == 0) return InvalidArgumentError("divisibleby needs a non-zero number");
    return v.int_value() % d->int_value() == 0;
  }
  const Value* other = Arg(args, 0, "other");
  if (other == nullptr) {
    static constexpr std::string_view kBinary[] = {"eq", "equalto", "==", "ne", "!=", "lt", "<", "le", "<=", "gt",
                                                   ">", "ge", ">=", "in", "sameas"};
    for (std::string_view b : kBinary) {
      if (name == b) return InvalidArgumentError("test '" + std::string(name) + "' needs an argument");
    }
    return InvalidArgumentError("unknown test '" + std::string(name) + "'");
  }
  if (name == "eq" || name == "equalto" || name == "==") return ValuesEqual(v, *other);
  if (name == "ne" || name == "!=") return !ValuesEqual(v, *other);
  if (name == "sameas") {
    return v.kind() == other->kind() && (v.identity() != nullptr ? v.identity() == other->identity() : ValuesEqual(v, *other));
  }
  if (name == "in") {
    if (other->is_string()) {
      RETURN_IF_ERROR(NeedString(v, "'in <string>'"));
      return other->str().find(v.str()) != std::string::npos;
    }
    if (other->is_list()) {
      for (const Value& item : other->list()) {
        if (ValuesEqual(item, v)) return true;
      }
      return false;
    }
    if (other->is_mapping()) return v.is_string() && other->dict().Find(v.str()) != nullptr;
    if (other->is_undefined()) return InvalidArgumentError("'" + other->str() + "' is undefined (right of 'in')");
    return InvalidArgumentError("argument of type '" + std::string(other->TypeName()) + "' is not iterable");
  }
  std::optional<int> c = CompareValues(v, *other);
  if (name == "lt" || name == "<" || name == "le" || name == "<=" || name == "gt" || name == ">" || name == "ge" ||
      name == ">=") {
    if (!c) return InvalidArgumentError("test '" + std::string(name) + "': values are not comparable");
    if (name == "lt" || name == "<") return *c < 0;
    if (name == "le" || name == "<=") return *c <= 0;
    if (name == "gt" || name == ">") return *c > 0;
    return *c >= 0;
  }
  return InvalidArgumentError("unknown test '" + std::string(name) + "'");
}

bool HasMethod(const Value& obj, std::string_view name) {
  static constexpr std::string_view kStr[] = {"strip", "lstrip", "rstrip", "startswith", "endswith", "split",
                                              "upper", "lower", "title", "capitalize", "replace", "find",
                                              "count", "join", "isdigit", "isspace", "isalpha"};
  static constexpr std::string_view kDict[] = {"items", "keys", "values", "get"};
  if (obj.is_string()) return std::find(std::begin(kStr), std::end(kStr), name) != std::end(kStr);
  if (obj.kind() == Value::Kind::kDict) return std::find(std::begin(kDict), std::end(kDict), name) != std::end(kDict);
  return false;
}

static StatusOr<Value> StringMethod(Interpreter& interp, const std::string& s, std::string_view name,
                                    const CallArgs& args) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ASSIGN_OR_RETURN(std::string set, StripSet(Arg(args, 0, "chars")));
    return Value::String(Strip(s, set, name != "rstrip", name != "lstrip"));
  }
  if (name == "startswith" || name == "endswith") return AffixTest(s, Arg(args, 0, "prefix"), name == "startswith");
  if (name == "split") return Split(s, Arg(args, 0, "sep"), Arg(args, 1, "maxsplit"));
  if (name == "upper") return Value::String(Upper(s));
  if (name == "lower") return Value::String(Lower(s));
  if (name == "title") return Value::String(Title(s));
  if (name == "capitalize") return Value::String(Capitalize(s));
  if (name == "replace") {
    ASSIGN_OR_RETURN(std::string r, Replace(interp, s, Arg(args, 0, "old"), Arg(args, 1, "new"), Arg(args, 2, "count")));
    return Value::String(std::move(r));
  }
  auto all_of = [&](auto pred) {
    return Value::Bool(!s.empty() && std::all_of(s.begin(), s.end(), [&](char c) { return pred(static_cast<unsigned char>(c)); }));
  };
  if (name == "isdigit") return all_of(::isdigit);
  if (name == "isspace") return all_of(::isspace);
  if (name == "isalpha") return all_of(::isalpha);
  const Value* arg = Arg(args, 0, "sub");
  if (arg == nullptr) return InvalidArgumentError("str." + std::string(name) + "() needs an argument");
  if (name == "join") {
    CallArgs join_args;
    join_args.positional.push_back(Value::String(s));
    return JoinFilter(interp, *arg, join_args);
  }
  RETURN_IF_ERROR(NeedString(*arg, name));
  if (name == "find") {
    const size_t hit = s.find(arg->str());
    return Value::Int(hit == std::string::npos ? -1 : static_cast<int64_t>(CodePointCount(s.substr(0, hit))));
  }
  // count (non-overlapping)
  if (arg->str().empty()) return Value::Int(static_cast<int64_t>(CodePointCount(s) + 1));
  int64_t n = 0;
  for (size_t p = s.find(arg->str()); p != std::string::npos; p = s.find(arg->str(), p + arg->str().size())) ++n;
  return Value::Int(n);
}

StatusOr<Value> CallMethod(Interpreter& interp, const Value& obj, std::string_view name, const CallArgs& args) {
  RETURN_IF_ERROR(interp.Charge(WorkUnits(obj)));
  if (obj.is_string()) return StringMethod(interp, obj.str(), name, args);
  if (obj.kind() == Value::Kind::kDict) {
    if (name == "items") return Items(obj);
    if (name == "get") {
      const Value* key = Arg(args, 0, "key");
      const Value* def = Arg(args, 1, "default");
      if (key == nullptr) return InvalidArgumentError("dict.get() needs a key");
      const Value* found = key->is_string() ? obj.dict().Find(key->str()) : nullptr;
      return found ? *found : def ? *def : Value::None();
    }
    ValueList out;
    for (const auto& [k, item] : obj.dict().items()) out.push_back(name == "keys" ? Value::String(k) : item);
    return Value::List(std::move(out));
  }
  return NotFoundError("no method '" + std::string(name) + "' on '" + std::string(obj.TypeName()) + "'");
}

StatusOr<std::vector<size_t>> SliceIndices(int64_t n, const Value& start, const Value& stop, const Value& step) {
  auto as_int = [](const Value& v, int64_t fallback) -> StatusOr<int64_t> {
    if (v.is_none() || v.is_undefined()) return fallback;
    if (v.kind() != Value::Kind::kInt && v.kind() != Value::Kind::kBool) {
      return InvalidArgumentError("slice indices must be integers");
    }
    return v.int_value();
  };
  ASSIGN_OR_RETURN(int64_t st, as_int(step, 1));
  if (st == 0) return InvalidArgumentError("slice step cannot be zero");
  const int64_t lo = st > 0 ? 0 : -1, hi = st > 0 ? n : n - 1;
  auto clamp = [&](int64_t i) {
    if (i < 0) i = std::max<int64_t>(i + n, lo);
    return std::min(i, hi);
  };
  ASSIGN_OR_RETURN(int64_t b, as_int(start, st > 0 ? 0 : n - 1));
  ASSIGN_OR_RETURN(int64_t e, as_int(stop, st > 0 ? n : -1));
  if (!start.is_none() && !start.is_undefined()) b = clamp(b);
  if (!stop.is_none() && !stop.is_undefined()) e = clamp(e);
  std::vector<size_t> idx;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) idx.push_back(static_cast<size_t>(i));
  return idx;
}

void AddGlobals(std::unordered_map<std::string, Value>& globals) {
  globals["range"] = Value::Function("range", [](Interpreter& interp, const CallArgs& args) -> StatusOr<Value> {
    int64_t v[3] = {0, 0, 1};
    const size_t n = args.positional.size();
    if (n < 1 || n > 3) return InvalidArgumentError("range() takes 1 to 3 arguments");
    for (size_t i = 0; i < n; ++i) {
      const Value& a = args.positional[i];
      if (a.kind() != Value::Kind::kInt && a.kind() != Value::Kind::kBool) {
        return InvalidArgumentError("range() arguments must be integers");
      }
    }
    if (n == 1) v[1] = args.positional[0].int_value();
    for (size_t i = 0; n > 1 && i < n; ++i) v[i] = args.positional[i].int_value();
    if (v[2] == 0) return InvalidArgumentError("range() step cannot be zero");
    const double count = std::max(0.0, std::ceil((static_cast<double>(v[1]) - v[0]) / v[2]));
    RETURN_IF_ERROR(interp.CheckSize(0, count > 1e12 ? SIZE_MAX : static_cast<size_t>(count)));
    RETURN_IF_ERROR(interp.Charge(static_cast<uint64_t>(count)));
    ValueList items;
    for (int64_t i = v[0]; v[2] > 0 ? i < v[1] : i > v[1]; i += v[2]) items.push_back(Value::Int(i));
    return Value::List(std::move(items));
  });
  auto make_mapping = [](bool ns) {
    return [ns](Interpreter&, const CallArgs& args) -> StatusOr<Value> {
      ValueDict d;
      for (const Value& p : args.positional) {
        if (!p.is_mapping()) return InvalidArgumentError(ns ? "namespace() takes a dict or keywords" : "dict() takes a dict or keywords");
        for (const auto& [k, v] : p.dict().items()) d.Set(k, v);
      }
      for (const auto& [k, v] : args.keyword) d.Set(k, v);
      return ns ? Value::Namespace(std::move(d)) : Value::Dict(std::move(d));
    };
  };
  globals["namespace"] = Value::Function("namespace", make_mapping(true));
  globals["dict"] = Value::Function("dict", make_mapping(false));
  globals["raise_exception"] = Value::Function("raise_exception", [](Interpreter&, const CallArgs& args) -> StatusOr<Value> {
    const std::string msg = args.positional.empty() ? "" : ToOutputString(args.positional[0]);
    return InvalidArgumentError("chat template raised an exception: " + msg);
  });
  globals["strftime_now"] = Value::Function("strftime_now", [](Interpreter&, const CallArgs& args) -> StatusOr<Value> {
    if (args.positional.empty() || !args.positional[0].is_string()) {
      return InvalidArgumentError("strftime_now() needs a format string");
    }
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[256];
    const size_t n = std::strftime(buf, sizeof(buf), args.positional[0].str().c_str(), &tm);
    return Value::String(std::string(buf, n));
  });
}

}  // namespace flotilla::jinja
