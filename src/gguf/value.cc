// gguf::Value: typed accessors and display.
#include <charconv>
#include <cstdio>
#include <limits>
#include <string>

#include "gguf/format.h"
#include "gguf/gguf.h"

namespace flotilla::gguf {

std::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "unknown";
}

Value Value::StringArray(std::vector<std::string> items) {
  Array a{ValueType::kString, {}};
  a.items.reserve(items.size());
  for (std::string& s : items) a.items.push_back(String(std::move(s)));
  return MakeArray(std::move(a));
}

Value Value::F32Array(std::span<const float> items) {
  Array a{ValueType::kFloat32, {}};
  a.items.reserve(items.size());
  for (float f : items) a.items.push_back(F32(f));
  return MakeArray(std::move(a));
}

Value Value::I32Array(std::span<const int32_t> items) {
  Array a{ValueType::kInt32, {}};
  a.items.reserve(items.size());
  for (int32_t i : items) a.items.push_back(I32(i));
  return MakeArray(std::move(a));
}

std::optional<int64_t> Value::AsInt() const {
  if (internal::IsSignedType(type_)) return std::get<int64_t>(v_);
  if (internal::IsUnsignedType(type_)) {
    uint64_t u = std::get<uint64_t>(v_);
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  return std::nullopt;
}

std::optional<uint64_t> Value::AsUint() const {
  if (internal::IsUnsignedType(type_)) return std::get<uint64_t>(v_);
  if (internal::IsSignedType(type_)) {
    int64_t i = std::get<int64_t>(v_);
    if (i < 0) return std::nullopt;
    return static_cast<uint64_t>(i);
  }
  return std::nullopt;
}

std::optional<double> Value::AsFloat() const {
  if (type_ == ValueType::kFloat32 || type_ == ValueType::kFloat64) return std::get<double>(v_);
  return std::nullopt;
}

std::optional<bool> Value::AsBool() const {
  if (type_ == ValueType::kBool) return std::get<bool>(v_);
  return std::nullopt;
}

const std::string* Value::AsString() const {
  return type_ == ValueType::kString ? &std::get<std::string>(v_) : nullptr;
}

const Array* Value::AsArray() const {
  return type_ == ValueType::kArray ? &std::get<Array>(v_) : nullptr;
}

namespace {

void AppendQuoted(const std::string& s, std::string* out) {
  constexpr size_t kMaxChars = 120;
  out->push_back('"');
  size_t n = s.size() < kMaxChars ? s.size() : kMaxChars;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  if (n < s.size()) out->append("...");
  out->push_back('"');
}

}  // namespace

std::string Value::ToDisplayString(size_t max_items) const {
  std::string out;
  switch (type_) {
    case ValueType::kString:
      AppendQuoted(std::get<std::string>(v_), &out);
      return out;
    case ValueType::kBool:
      return std::get<bool>(v_) ? "true" : "false";
    case ValueType::kFloat32:
    case ValueType::kFloat64: {
      char buf[64];
      double d = std::get<double>(v_);
      auto r = type_ == ValueType::kFloat32
                   ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(d))
                   : std::to_chars(buf, buf + sizeof buf, d);
      return std::string(buf, r.ptr);
    }
    case ValueType::kArray: {
      const Array& a = std::get<Array>(v_);
      out.push_back('[');
      size_t n = a.items.size() < max_items ? a.items.size() : max_items;
      for (size_t i = 0; i < n; ++i) {
        if (i > 0) out.append(", ");
        out.append(a.items[i].ToDisplayString(max_items));
      }
      if (n < a.items.size()) {
        out.append(n > 0 ? ", ... " : "... ");
        out.append(std::to_string(a.items.size()) + " items");
      }
      out.push_back(']');
      return out;
    }
    default:
      break;
  }
  if (internal::IsSignedType(type_)) return std::to_string(std::get<int64_t>(v_));
  return std::to_string(std::get<uint64_t>(v_));
}

}  // namespace flotilla::gguf
