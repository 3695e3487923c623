// GGUF files (versions 2 and 3): metadata values, the reader and the writer.
//
// Reader contract: File::Open maps the file and validates every structure before exposing it; a
// malformed file yields a DATA_LOSS (or UNIMPLEMENTED for valid but unsupported features) Status whose
// message names what is wrong and the byte offset. Tensor data is never copied: TensorInfo::data
// points into the map, which lives as long as the File.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "base/mapped_file.h"
#include "flotilla/status.h"
#include "tensor/dtype.h"

namespace flotilla::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
inline constexpr uint64_t kDefaultAlignment = 32;

enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view ValueTypeName(ValueType type);  // "uint32", "array", ...

class Value;
struct Array {
  ValueType elem_type = ValueType::kUint8;
  std::vector<Value> items;  // each item has type elem_type; items may be arrays (nested)
};

// One metadata value; keeps its exact GGUF type so that a file rewrites byte-identically.
class Value {
 public:
  Value() : Value(ValueType::kUint8, uint64_t{0}) {}
  static Value Uint(ValueType type, uint64_t v) { return Value(type, v); }  // kUint8..kUint64
  static Value Int(ValueType type, int64_t v) { return Value(type, v); }    // kInt8..kInt64
  static Value U32(uint32_t v) { return Value(ValueType::kUint32, uint64_t{v}); }
  static Value I32(int32_t v) { return Value(ValueType::kInt32, int64_t{v}); }
  static Value U64(uint64_t v) { return Value(ValueType::kUint64, v); }
  static Value F32(float v) { return Value(ValueType::kFloat32, double{v}); }
  static Value F64(double v) { return Value(ValueType::kFloat64, v); }
  static Value Bool(bool v) { return Value(ValueType::kBool, v); }
  static Value String(std::string v) { return Value(ValueType::kString, std::move(v)); }
  static Value MakeArray(Array a) { return Value(ValueType::kArray, std::move(a)); }
  static Value StringArray(std::vector<std::string> items);
  static Value F32Array(std::span<const float> items);
  static Value I32Array(std::span<const int32_t> items);

  ValueType type() const { return type_; }
  // Any integer type whose value fits; nullopt for other types.
  std::optional<int64_t> AsInt() const;
  std::optional<uint64_t> AsUint() const;
  // kFloat32 or kFloat64.
  std::optional<double> AsFloat() const;
  std::optional<bool> AsBool() const;
  const std::string* AsString() const;
  const Array* AsArray() const;
  // A short human-readable rendering ("[\"a\", \"b\", ... 32000 items]" for long arrays).
  std::string ToDisplayString(size_t max_items = 8) const;

 private:
  using Storage = std::variant<uint64_t, int64_t, double, bool, std::string, Array>;
  Value(ValueType type, Storage v) : type_(type), v_(std::move(v)) {}
  ValueType type_;
  Storage v_;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ggml order: shape[0] is the row length (contiguous dimension)
  DType dtype = DType::kF32;
  uint64_t offset = 0;         // from the start of the data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the file's map

  int64_t n_elements() const;
  std::span<const uint8_t> bytes() const { return {data, n_bytes}; }
};

// "[a, b, ...]": a shape as error messages and `flotilla inspect` print it.
std::string ShapeString(const std::vector<int64_t>& shape);

// A parsed GGUF file. Movable; pointers into it stay valid across moves.
class File {
 public:
  // Maps and parses `path`. Errors name the path.
  static StatusOr<File> Open(const std::string& path);
  // Parses bytes that the caller keeps alive for the File's lifetime (tests, fuzzing).
  static StatusOr<File> Parse(std::span<const uint8_t> bytes);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section
  uint64_t size() const { return size_; }                // bytes in the file
  const std::string& path() const { return path_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* Find(std::string_view key) const;  // nullptr when absent
  // Typed getters: NOT_FOUND when absent, INVALID_ARGUMENT naming the key when of another type.
  StatusOr<std::string> GetString(std::string_view key) const;
  StatusOr<uint64_t> GetUint(std::string_view key) const;
  StatusOr<int64_t> GetInt(std::string_view key) const;
  StatusOr<double> GetFloat(std::string_view key) const;
  StatusOr<bool> GetBool(std::string_view key) const;
  StatusOr<const Array*> GetArray(std::string_view key) const;
  StatusOr<std::vector<std::string>> GetStringArray(std::string_view key) const;
  StatusOr<std::vector<float>> GetF32Array(std::string_view key) const;  // float32 or float64 items
  StatusOr<std::vector<int32_t>> GetI32Array(std::string_view key) const;  // any integer items

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;  // nullptr when absent

  // Drops the resident pages of a range of the mapped file (see MappedFile::ReleasePages), e.g. of
  // tensors that were copied elsewhere; nothing for parsed bytes.
  void ReleasePages(const uint8_t* begin, size_t n) const;
  // Maps a range of the mapped file now (see MappedFile::Prefault); nothing for parsed bytes.
  void Prefault(const uint8_t* begin, size_t n) const;

 private:
  File() = default;
  std::shared_ptr<MappedFile> map_;  // absent for Parse()
  std::string path_;
  uint32_t version_ = 3;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  uint64_t size_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// Builds a GGUF file: metadata in insertion order, then tensor infos, then aligned tensor data.
// Writing a File's contents back through FromFile produces the same bytes.
class Writer {
 public:
  explicit Writer(uint32_t version = 3) : version_(version) {}
  // Copies metadata and tensor views (not tensor bytes) of `file`; `file` must outlive the Writer.
  static Writer FromFile(const File& file);

  // Adds or replaces a key, keeping its first position. "general.alignment" sets the alignment.
  void Set(std::string key, Value value);
  void Remove(std::string_view key);
  // `data` must hold exactly the tensor's bytes and outlive Write*. INVALID_ARGUMENT on a size
  // mismatch, a duplicate name or a shape that is not whole blocks.
  Status AddTensor(std::string name, DType dtype, std::vector<int64_t> shape,
                   std::span<const uint8_t> data);

  // Writes atomically (temporary file, then rename).
  Status WriteFile(const std::string& path) const;
  // The whole file in memory (tests and small files).
  StatusOr<std::string> WriteToString() const;

 private:
  struct PendingTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::span<const uint8_t> data;
  };
  // Header, metadata, tensor infos and the padding before the data section.
  StatusOr<std::string> EncodeHead() const;
  uint32_t version_;
  uint64_t alignment_ = kDefaultAlignment;
  // Whether a file without tensors is padded to the alignment after its infos: llama.cpp's C writer
  // pads, gguf-py does not; FromFile keeps what the file did.
  bool pad_without_tensors_ = true;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace flotilla::gguf
