#include "tokenizer/jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace flotilla::jinja {

const Value* ValueDict::Find(std::string_view key) const {
  for (const auto& [k, v] : items_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void ValueDict::Set(std::string key, Value value) {
  for (auto& [k, v] : items_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

const Value* CallArgs::Keyword(std::string_view name) const {
  for (const auto& [k, v] : keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

Value Value::List(ValueList items) {
  Value v(Kind::kList);
  v.list_ = std::make_shared<ValueList>(std::move(items));
  return v;
}

Value Value::Dict(ValueDict dict) {
  Value v(Kind::kDict);
  v.dict_ = std::make_shared<ValueDict>(std::move(dict));
  return v;
}

Value Value::Namespace(ValueDict dict) {
  Value v(Kind::kNamespace);
  v.dict_ = std::make_shared<ValueDict>(std::move(dict));
  return v;
}

Value Value::Function(std::string name, NativeFunction fn) {
  Value v(Kind::kFunction);
  v.s_ = std::move(name);
  v.fn_ = std::make_shared<const NativeFunction>(std::move(fn));
  return v;
}

const void* Value::identity() const {
  if (list_) return list_.get();
  if (dict_) return dict_.get();
  return nullptr;
}

bool Value::Truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return b_;
    case Kind::kInt: return i_ != 0;
    case Kind::kFloat: return f_ != 0;
    case Kind::kString: return !s_.empty();
    case Kind::kList: return !list_->empty();
    case Kind::kDict: return dict_->size() != 0;
    case Kind::kNamespace:
    case Kind::kFunction: return true;
  }
  return false;
}

std::string_view Value::TypeName() const {
  switch (kind_) {
    case Kind::kUndefined: return "undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kNamespace: return "Namespace";
    case Kind::kFunction: return "function";
  }
  return "?";
}

namespace {

// Python repr() of a float: shortest round-trip digits, integral values keep ".0".
std::string FloatRepr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[64];
  if (f == std::floor(f) && std::fabs(f) < 1e16) {
    auto res = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::fixed);
    return std::string(buf, res.ptr) + ".0";
  }
  auto res = std::to_chars(buf, buf + sizeof(buf), f);
  return std::string(buf, res.ptr);
}

std::string StringRepr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c == quote) out += '\\';
        out += c;
    }
  }
  out += quote;
  return out;
}

void ReprInto(const Value& v, int depth, std::string& out) {
  if (depth > kMaxValueDepth) {
    out += "...";
    return;
  }
  switch (v.kind()) {
    case Value::Kind::kString: out += StringRepr(v.str()); return;
    case Value::Kind::kList: {
      out += '[';
      bool first = true;
      for (const Value& item : v.list()) {
        if (!first) out += ", ";
        first = false;
        ReprInto(item, depth + 1, out);
      }
      out += ']';
      return;
    }
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: {
      out += v.kind() == Value::Kind::kNamespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, item] : v.dict().items()) {
        if (!first) out += ", ";
        first = false;
        out += StringRepr(k) + ": ";
        ReprInto(item, depth + 1, out);
      }
      out += v.kind() == Value::Kind::kNamespace ? "}>" : "}";
      return;
    }
    default: out += ToOutputString(v);
  }
}

void JsonString(std::string_view s, std::string& out) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

Status JsonInto(const Value& v, int indent, int depth, std::string& out) {
  if (depth > kMaxValueDepth) return InvalidArgumentError("tojson: value nested too deeply");
  auto newline = [&](int level) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent) * level, ' ');
  };
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return InvalidArgumentError("tojson: '" + v.str() + "' is undefined");
    case Value::Kind::kFunction: return InvalidArgumentError("tojson: cannot serialise a function");
    case Value::Kind::kNone: out += "null"; return Status::Ok();
    case Value::Kind::kBool: out += v.bool_value() ? "true" : "false"; return Status::Ok();
    case Value::Kind::kInt: out += std::to_string(v.int_value()); return Status::Ok();
    case Value::Kind::kFloat: {
      const double f = v.float_value();
      out += std::isnan(f) ? "NaN" : std::isinf(f) ? (f > 0 ? "Infinity" : "-Infinity") : FloatRepr(f);
      return Status::Ok();
    }
    case Value::Kind::kString: JsonString(v.str(), out); return Status::Ok();
    case Value::Kind::kList: {
      if (v.list().empty()) {
        out += "[]";
        return Status::Ok();
      }
      out += '[';
      for (size_t i = 0; i < v.list().size(); ++i) {
        if (i > 0) out += indent < 0 ? ", " : ",";
        newline(depth + 1);
        RETURN_IF_ERROR(JsonInto(v.list()[i], indent, depth + 1, out));
      }
      newline(depth);
      out += ']';
      return Status::Ok();
    }
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: {
      if (v.dict().size() == 0) {
        out += "{}";
        return Status::Ok();
      }
      out += '{';
      bool first = true;
      for (const auto& [k, item] : v.dict().items()) {
        if (!first) out += indent < 0 ? ", " : ",";
        first = false;
        newline(depth + 1);
        JsonString(k, out);
        out += ": ";
        RETURN_IF_ERROR(JsonInto(item, indent, depth + 1, out));
      }
      newline(depth);
      out += '}';
      return Status::Ok();
    }
  }
  return Status::Ok();
}

bool EqualsAt(const Value& a, const Value& b, int depth) {
  if (depth > kMaxValueDepth) return false;
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::kFloat || b.kind() == Value::Kind::kFloat) {
      return a.float_value() == b.float_value();
    }
    return a.int_value() == b.int_value();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return true;
    case Value::Kind::kString: return a.str() == b.str();
    case Value::Kind::kList: {
      if (a.list().size() != b.list().size()) return false;
      for (size_t i = 0; i < a.list().size(); ++i) {
        if (!EqualsAt(a.list()[i], b.list()[i], depth + 1)) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, item] : a.dict().items()) {
        const Value* other = b.dict().Find(k);
        if (other == nullptr || !EqualsAt(item, *other, depth + 1)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity() && a.str() == b.str();
  }
}

}  // namespace

std::string ToOutputString(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return "";
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return v.bool_value() ? "True" : "False";
    case Value::Kind::kInt: return std::to_string(v.int_value());
    case Value::Kind::kFloat: return FloatRepr(v.float_value());
    case Value::Kind::kString: return v.str();
    case Value::Kind::kFunction: return "<function " + v.str() + ">";
    default: {
      std::string out;
      ReprInto(v, 0, out);
      return out;
    }
  }
}

std::string ToRepr(const Value& v) {
  std::string out;
  ReprInto(v, 0, out);
  return out;
}

StatusOr<std::string> ToJson(const Value& v, int indent) {
  std::string out;
  RETURN_IF_ERROR(JsonInto(v, indent, 0, out));
  return out;
}

bool ValuesEqual(const Value& a, const Value& b) { return EqualsAt(a, b, 0); }

std::optional<int> CompareValues(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.float_value(), y = b.float_value();
    if (a.kind() != Value::Kind::kFloat && b.kind() != Value::Kind::kFloat) {
      return a.int_value() < b.int_value() ? -1 : a.int_value() > b.int_value() ? 1 : 0;
    }
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.str().compare(b.str());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list()) {
    const size_t n = std::min(a.list().size(), b.list().size());
    for (size_t i = 0; i < n; ++i) {
      if (ValuesEqual(a.list()[i], b.list()[i])) continue;
      return CompareValues(a.list()[i], b.list()[i]);
    }
    return a.list().size() < b.list().size() ? -1 : a.list().size() > b.list().size() ? 1 : 0;
  }
  return std::nullopt;
}

bool ValueContains(const Value& v, const void* identity, int depth) {
  if (identity == nullptr || depth > kMaxValueDepth) return depth > kMaxValueDepth;
  if (v.identity() == identity) return true;
  if (v.is_list()) {
    for (const Value& item : v.list()) {
      if (ValueContains(item, identity, depth + 1)) return true;
    }
  } else if (v.is_mapping()) {
    for (const auto& [k, item] : v.dict().items()) {
      if (ValueContains(item, identity, depth + 1)) return true;
    }
  }
  return false;
}

std::vector<size_t> CodePointOffsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i) {
    // Continuation bytes (10xxxxxx) never start a code point; invalid bytes count as one each.
    if (i == 0 || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) offsets.push_back(i);
  }
  offsets.push_back(s.size());
  return offsets;
}

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    n += i == 0 || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
  }
  return n;
}

}  // namespace flotilla::jinja
