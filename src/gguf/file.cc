// gguf::File lookups and typed getters.
#include <limits>
#include <string>

#include "gguf/gguf.h"

namespace flotilla::gguf {
namespace {

Status TypeError(const std::string& path, std::string_view key, ValueType got,
                 std::string_view want) {
  std::string msg = "gguf: key '" + std::string(key) + "' has type " +
                    std::string(ValueTypeName(got)) + ", expected " + std::string(want);
  if (!path.empty()) msg = path + ": " + msg;
  return InvalidArgumentError(std::move(msg));
}

Status ArrayTypeError(const std::string& path, std::string_view key, ValueType got,
                      std::string_view want) {
  std::string msg = "gguf: key '" + std::string(key) + "' is an array of " +
                    std::string(ValueTypeName(got)) + ", expected an array of " + std::string(want);
  if (!path.empty()) msg = path + ": " + msg;
  return InvalidArgumentError(std::move(msg));
}

}  // namespace

const Value* File::Find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* File::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

void File::ReleasePages(const uint8_t* begin, size_t n) const {
  if (map_) map_->ReleasePages(begin, n);
}

void File::Prefault(const uint8_t* begin, size_t n) const {
  if (map_) map_->Prefault(begin, n);
}

// Looks `key` up or returns NOT_FOUND from the enclosing getter.
#define FLOTILLA_GGUF_FIND(v, key)                                                    \
  const Value* v = Find(key);                                                          \
  if (v == nullptr) {                                                                  \
    std::string msg = "gguf: key '" + std::string(key) + "' not found";               \
    return NotFoundError(path_.empty() ? msg : path_ + ": " + msg);                    \
  }

StatusOr<std::string> File::GetString(std::string_view key) const {
  FLOTILLA_GGUF_FIND(v, key);
  if (const std::string* s = v->AsString()) return *s;
  return TypeError(path_, key, v->type(), "string");
}

StatusOr<uint64_t> File::GetUint(std::string_view key) const {
  FLOTILLA_GGUF_FIND(v, key);
  if (std::optional<uint64_t> u = v->AsUint()) return *u;
  if (v->AsInt().has_value()) {
    return OutOfRangeError("gguf: key '" + std::string(key) + "' is negative: " +
                           v->ToDisplayString());
  }
  return TypeError(path_, key, v->type(), "an unsigned integer");
}

StatusOr<int64_t> File::GetInt(std::string_view key) const {
  FLOTILLA_GGUF_FIND(v, key);
  if (std::optional<int64_t> i = v->AsInt()) return *i;
  if (v->AsUint().has_value()) {
    return OutOfRangeError("gguf: key '" + std::string(key) + "' does not fit in int64: " +
                           v->ToDisplayString());
  }
  return TypeError(path_, key, v->type(), "an integer");
}

StatusOr<double> File::GetFloat(std::string_view key) const {
  FLOTILLA_GGUF_FIND(v, key);
  if (std::optional<double> d = v->AsFloat()) return *d;
  return TypeError(path_, key, v->type(), "float32 or float64");
}

StatusOr<bool> File::GetBool(std::string_view key) const {
  FLOTILLA_GGUF_FIND(v, key);
  if (std::optional<bool> b = v->AsBool()) return *b;
  return TypeError(path_, key, v->type(), "bool");
}

StatusOr<const Array*> File::GetArray(std::string_view key) const {
  FLOTILLA_GGUF_FIND(v, key);
  if (const Array* a = v->AsArray()) return a;
  return TypeError(path_, key, v->type(), "array");
}

StatusOr<std::vector<std::string>> File::GetStringArray(std::string_view key) const {
  ASSIGN_OR_RETURN(const Array* a, GetArray(key));
  if (a->elem_type != ValueType::kString) {
    return ArrayTypeError(path_, key, a->elem_type, "string");
  }
  std::vector<std::string> out;
  out.reserve(a->items.size());
  for (const Value& item : a->items) out.push_back(*item.AsString());
  return out;
}

StatusOr<std::vector<float>> File::GetF32Array(std::string_view key) const {
  ASSIGN_OR_RETURN(const Array* a, GetArray(key));
  if (a->elem_type != ValueType::kFloat32 && a->elem_type != ValueType::kFloat64) {
    return ArrayTypeError(path_, key, a->elem_type, "float");
  }
  std::vector<float> out;
  out.reserve(a->items.size());
  for (const Value& item : a->items) out.push_back(static_cast<float>(*item.AsFloat()));
  return out;
}

StatusOr<std::vector<int32_t>> File::GetI32Array(std::string_view key) const {
  ASSIGN_OR_RETURN(const Array* a, GetArray(key));
  std::vector<int32_t> out;
  out.reserve(a->items.size());
  for (size_t i = 0; i < a->items.size(); ++i) {
    const Value& item = a->items[i];
    std::optional<int64_t> v = item.AsInt();
    if (!v.has_value() && !item.AsUint().has_value()) {
      return ArrayTypeError(path_, key, a->elem_type, "integers");
    }
    if (!v.has_value() || *v < std::numeric_limits<int32_t>::min() ||
        *v > std::numeric_limits<int32_t>::max()) {
      return OutOfRangeError("gguf: key '" + std::string(key) + "' item " + std::to_string(i) +
                             " does not fit in int32: " + item.ToDisplayString());
    }
    out.push_back(static_cast<int32_t>(*v));
  }
  return out;
}

#undef FLOTILLA_GGUF_FIND

}  // namespace flotilla::gguf
