// GGUF writer. Layout matches llama.cpp's writers byte for byte: header, key/value pairs, tensor infos,
// zero padding to the alignment, then each tensor's bytes at an aligned offset with zero padding after
// it (the file ends aligned). A file without tensors is padded too, unless it came through FromFile
// from an unpadded file (gguf-py writes vocab-only files that end right after the metadata).
#include <bit>
#include <cstring>
#include <limits>
#include <string>

#include "base/file_util.h"
#include "gguf/format.h"
#include "gguf/gguf.h"

namespace flotilla::gguf {
namespace {

using internal::AlignUp;

template <typename T>
void Put(std::string* out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out->append(buf, sizeof(T));
}

void PutString(std::string* out, std::string_view s) {
  Put<uint64_t>(out, s.size());
  out->append(s);
}

// Appends the encoding of `v` (without its type tag). INVALID_ARGUMENT when an integer does not fit
// its declared width or an array item is not of the array's element type.
Status EncodeValue(const Value& v, int depth, std::string* out) {
  ValueType t = v.type();
  if (internal::IsUnsignedType(t)) {
    uint64_t u = *v.AsUint();
    uint64_t bytes = internal::ScalarBytes(t);
    if (bytes < 8 && u >> (8 * bytes) != 0) {
      return InvalidArgumentError("gguf: value " + std::to_string(u) + " does not fit " +
                                  std::string(ValueTypeName(t)));
    }
    out->append(reinterpret_cast<const char*>(&u), bytes);  // little-endian low bytes
    return Status::Ok();
  }
  if (internal::IsSignedType(t)) {
    int64_t i = *v.AsInt();
    uint64_t bytes = internal::ScalarBytes(t);
    int64_t lim = bytes < 8 ? int64_t{1} << (8 * bytes - 1) : 0;
    if (bytes < 8 && (i < -lim || i >= lim)) {
      return InvalidArgumentError("gguf: value " + std::to_string(i) + " does not fit " +
                                  std::string(ValueTypeName(t)));
    }
    out->append(reinterpret_cast<const char*>(&i), bytes);
    return Status::Ok();
  }
  switch (t) {
    case ValueType::kFloat32: Put<float>(out, static_cast<float>(*v.AsFloat())); break;
    case ValueType::kFloat64: Put<double>(out, *v.AsFloat()); break;
    case ValueType::kBool: Put<uint8_t>(out, *v.AsBool() ? 1 : 0); break;
    case ValueType::kString: PutString(out, *v.AsString()); break;
    case ValueType::kArray: {
      if (depth >= internal::kMaxArrayDepth) {
        return InvalidArgumentError("gguf: arrays nested more than " +
                                    std::to_string(internal::kMaxArrayDepth) + " levels");
      }
      const Array& a = *v.AsArray();
      Put<uint32_t>(out, static_cast<uint32_t>(a.elem_type));
      Put<uint64_t>(out, a.items.size());
      for (const Value& item : a.items) {
        if (item.type() != a.elem_type) {
          return InvalidArgumentError("gguf: array of " + std::string(ValueTypeName(a.elem_type)) +
                                      " holds a " + std::string(ValueTypeName(item.type())));
        }
        RETURN_IF_ERROR(EncodeValue(item, depth + 1, out));
      }
      break;
    }
    default:
      return InvalidArgumentError("gguf: unknown value type " +
                                  std::to_string(static_cast<uint32_t>(t)));
  }
  return Status::Ok();
}

std::optional<uint64_t> ValidAlignment(const Value& v) {
  std::optional<uint64_t> a = v.AsUint();
  if (!a.has_value() || *a == 0 || !std::has_single_bit(*a)) return std::nullopt;
  return a;
}

// Where the bytes go: a string or an AtomicFile.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Status Write(std::span<const char> bytes) = 0;
  virtual Status WriteZeros(size_t n) = 0;
};

class StringSink : public Sink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  Status Write(std::span<const char> bytes) override {
    out_->append(bytes.data(), bytes.size());
    return Status::Ok();
  }
  Status WriteZeros(size_t n) override {
    out_->append(n, '\0');
    return Status::Ok();
  }

 private:
  std::string* out_;
};

class FileSink : public Sink {
 public:
  explicit FileSink(AtomicFile* file) : file_(file) {}
  Status Write(std::span<const char> bytes) override { return file_->Write(bytes); }
  Status WriteZeros(size_t n) override { return file_->WriteZeros(n); }

 private:
  AtomicFile* file_;
};

}  // namespace

Writer Writer::FromFile(const File& file) {
  Writer w(file.version());
  w.metadata_ = file.metadata();
  w.alignment_ = file.alignment();
  w.pad_without_tensors_ = file.size() >= file.data_offset();
  w.tensors_.reserve(file.tensors().size());
  for (const TensorInfo& t : file.tensors()) {
    w.tensors_.push_back({t.name, t.dtype, t.shape, t.bytes()});
  }
  return w;
}

void Writer::Set(std::string key, Value value) {
  if (key == "general.alignment") {
    // An invalid alignment is reported by Write*; until then keep the last valid one.
    if (std::optional<uint64_t> a = ValidAlignment(value)) alignment_ = *a;
  }
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

void Writer::Remove(std::string_view key) {
  if (key == "general.alignment") alignment_ = kDefaultAlignment;
  std::erase_if(metadata_, [&](const auto& kv) { return kv.first == key; });
}

Status Writer::AddTensor(std::string name, DType dtype, std::vector<int64_t> shape,
                         std::span<const uint8_t> data) {
  auto err = [&](const std::string& what) {
    return InvalidArgumentError("gguf: tensor '" + name + "': " + what);
  };
  // ggml keeps names in a 64-byte buffer with a terminating NUL.
  if (name.size() >= 64) return err("name longer than 63 bytes");
  for (const PendingTensor& t : tensors_) {
    if (t.name == name) return err("duplicate tensor name");
  }
  if (shape.size() > internal::kMaxDims) return err("more than 4 dims");
  uint64_t n_rows = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) return err("negative dim " + std::to_string(shape[d]));
    if (d > 0 && __builtin_mul_overflow(n_rows, static_cast<uint64_t>(shape[d]), &n_rows)) {
      return err("element count overflows");
    }
  }
  uint64_t row_len = shape.empty() ? 1 : static_cast<uint64_t>(shape[0]);
  const DTypeInfo& info = GetDTypeInfo(dtype);
  if (row_len % info.block_size != 0) {
    return err("row length " + std::to_string(row_len) + " is not whole " +
               std::string(info.name) + " blocks");
  }
  uint64_t row_bytes = 0, n_bytes = 0;
  if (__builtin_mul_overflow(row_len / info.block_size, uint64_t{info.block_bytes}, &row_bytes) ||
      __builtin_mul_overflow(row_bytes, n_rows, &n_bytes)) {
    return err("byte size overflows");
  }
  if (n_bytes != data.size()) {
    return err("expected " + std::to_string(n_bytes) + " bytes of data, got " +
               std::to_string(data.size()));
  }
  tensors_.push_back({std::move(name), dtype, std::move(shape), data});
  return Status::Ok();
}

StatusOr<std::string> Writer::EncodeHead() const {
  if (version_ != 2 && version_ != 3) {
    return InvalidArgumentError("gguf: cannot write version " + std::to_string(version_) +
                                " (only 2 and 3)");
  }
  std::string out;
  Put<uint32_t>(&out, kMagic);
  Put<uint32_t>(&out, version_);
  Put<uint64_t>(&out, tensors_.size());
  Put<uint64_t>(&out, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    if (key == "general.alignment" && !ValidAlignment(value).has_value()) {
      return InvalidArgumentError("gguf: general.alignment " + value.ToDisplayString() +
                                  " is not a nonzero power of two");
    }
    PutString(&out, key);
    Put<uint32_t>(&out, static_cast<uint32_t>(value.type()));
    Status s = EncodeValue(value, 0, &out);
    if (!s.ok()) return s.WithContext("key '" + key + "'");
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    PutString(&out, t.name);
    Put<uint32_t>(&out, static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) Put<int64_t>(&out, d);
    Put<uint32_t>(&out, static_cast<uint32_t>(t.dtype));
    Put<uint64_t>(&out, offset);
    offset += AlignUp(t.data.size(), alignment_);
  }
  if (!tensors_.empty() || pad_without_tensors_) out.resize(AlignUp(out.size(), alignment_), '\0');
  return out;
}

namespace {

// Writes the head, then each tensor's bytes followed by zeros up to the alignment.
Status WriteAll(const std::string& head, uint64_t alignment,
                std::span<const std::span<const uint8_t>> data, Sink& sink) {
  RETURN_IF_ERROR(sink.Write(head));
  for (std::span<const uint8_t> d : data) {
    RETURN_IF_ERROR(sink.Write({reinterpret_cast<const char*>(d.data()), d.size()}));
    RETURN_IF_ERROR(sink.WriteZeros(AlignUp(d.size(), alignment) - d.size()));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::string> Writer::WriteToString() const {
  ASSIGN_OR_RETURN(std::string head, EncodeHead());
  std::vector<std::span<const uint8_t>> data;
  uint64_t total = head.size();
  for (const PendingTensor& t : tensors_) {
    data.push_back(t.data);
    total += AlignUp(t.data.size(), alignment_);
  }
  std::string out;
  out.reserve(total);
  StringSink sink(&out);
  RETURN_IF_ERROR(WriteAll(head, alignment_, data, sink));
  return out;
}

Status Writer::WriteFile(const std::string& path) const {
  StatusOr<std::string> head = EncodeHead();
  if (!head.ok()) return head.status().WithContext(path);
  std::vector<std::span<const uint8_t>> data;
  for (const PendingTensor& t : tensors_) data.push_back(t.data);
  ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(path));
  FileSink sink(&file);
  RETURN_IF_ERROR(WriteAll(*head, alignment_, data, sink));
  return file.Commit();
}

}  // namespace flotilla::gguf
