// GGUF reader: File::Open / File::Parse. Every count, length and offset read from the file is checked
// against the bytes that remain before it is used, so a malformed file costs memory proportional to
// its size and ends in a DATA_LOSS status naming the problem and its byte offset.
#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <utility>

#include "gguf/format.h"
#include "gguf/gguf.h"

namespace flotilla::gguf {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

using internal::MinValueBytes;
using internal::ScalarBytes;

// A printable, bounded rendering of a name read from the file, for error messages.
std::string Printable(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

// Reads little-endian fields from a byte span; `where` describes the structure being read
// ("key 3 of 20 'general.name'") and ends up in error messages.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  void set_where(std::string where) { where_ = std::move(where); }

  Status Error(std::string_view what, uint64_t offset, std::string_view detail = {}) const {
    std::string msg = "gguf: " + std::string(what) + " at offset " + std::to_string(offset);
    if (!where_.empty()) msg += " (" + where_ + ")";
    if (!detail.empty()) msg += ": " + std::string(detail);
    return DataLossError(std::move(msg));
  }

  template <typename T>
  StatusOr<T> Read(std::string_view what) {
    if (remaining() < sizeof(T)) {
      return Error("truncated " + std::string(what), pos_,
                   "need " + std::to_string(sizeof(T)) + " bytes, " + std::to_string(remaining()) +
                       " left in a file of " + std::to_string(size()) + " bytes");
    }
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  StatusOr<std::string> ReadString(std::string_view what) {
    uint64_t start = pos_;
    ASSIGN_OR_RETURN(uint64_t len, Read<uint64_t>(std::string(what) + " length"));
    if (len > remaining()) {
      return Error("truncated " + std::string(what), start,
                   "length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) +
                       " bytes left");
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

  // Scalar of type `t` (not string or array); the caller checked that ScalarBytes(t) bytes remain.
  StatusOr<Value> ReadScalar(ValueType t);
  StatusOr<Value> ReadValue(ValueType t, int depth);
  StatusOr<Value> ReadArray(int depth);

 private:
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
  std::string where_;
};

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

StatusOr<Value> Cursor::ReadScalar(ValueType t) {
  const uint8_t* p = bytes_.data() + pos_;
  uint64_t start = pos_;
  pos_ += ScalarBytes(t);
  switch (t) {
    case ValueType::kUint8: return Value::Uint(t, Load<uint8_t>(p));
    case ValueType::kUint16: return Value::Uint(t, Load<uint16_t>(p));
    case ValueType::kUint32: return Value::Uint(t, Load<uint32_t>(p));
    case ValueType::kUint64: return Value::Uint(t, Load<uint64_t>(p));
    case ValueType::kInt8: return Value::Int(t, Load<int8_t>(p));
    case ValueType::kInt16: return Value::Int(t, Load<int16_t>(p));
    case ValueType::kInt32: return Value::Int(t, Load<int32_t>(p));
    case ValueType::kInt64: return Value::Int(t, Load<int64_t>(p));
    case ValueType::kFloat32: return Value::F32(Load<float>(p));
    case ValueType::kFloat64: return Value::F64(Load<double>(p));
    case ValueType::kBool: {
      uint8_t b = *p;
      if (b > 1) return Error("invalid bool", start, "byte is " + std::to_string(b) + ", not 0 or 1");
      return Value::Bool(b != 0);
    }
    default: break;
  }
  return Error("internal: not a scalar type", start);
}

StatusOr<Value> Cursor::ReadValue(ValueType t, int depth) {
  if (t == ValueType::kString) {
    ASSIGN_OR_RETURN(std::string s, ReadString("string"));
    return Value::String(std::move(s));
  }
  if (t == ValueType::kArray) return ReadArray(depth + 1);
  if (remaining() < ScalarBytes(t)) {
    return Error("truncated " + std::string(ValueTypeName(t)) + " value", pos_,
                 std::to_string(remaining()) + " bytes left");
  }
  return ReadScalar(t);
}

StatusOr<Value> Cursor::ReadArray(int depth) {
  uint64_t start = pos_;
  if (depth > internal::kMaxArrayDepth) {
    return Error("arrays nested too deeply", start,
                 "more than " + std::to_string(internal::kMaxArrayDepth) + " levels");
  }
  ASSIGN_OR_RETURN(uint32_t raw_type, Read<uint32_t>("array element type"));
  if (!internal::IsValidValueType(raw_type)) {
    return Error("unknown array element type " + std::to_string(raw_type), start);
  }
  auto elem_type = static_cast<ValueType>(raw_type);
  ASSIGN_OR_RETURN(uint64_t count, Read<uint64_t>("array length"));
  if (count > remaining() / MinValueBytes(elem_type)) {
    return Error("array too long", start,
                 std::to_string(count) + " " + std::string(ValueTypeName(elem_type)) +
                     " items cannot fit in the " + std::to_string(remaining()) + " bytes left");
  }
  Array a{elem_type, {}};
  a.items.reserve(count);
  bool scalar = ScalarBytes(elem_type) > 0;  // the length check above covered every scalar item
  for (uint64_t i = 0; i < count; ++i) {
    if (scalar) {
      ASSIGN_OR_RETURN(Value v, ReadScalar(elem_type));
      a.items.push_back(std::move(v));
    } else {
      ASSIGN_OR_RETURN(Value v, ReadValue(elem_type, depth));
      a.items.push_back(std::move(v));
    }
  }
  return Value::MakeArray(std::move(a));
}

struct Header {
  uint32_t version = 0;
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
};

StatusOr<Header> ReadHeader(Cursor& c) {
  Header h;
  ASSIGN_OR_RETURN(uint32_t magic, c.Read<uint32_t>("header (magic)"));
  if (magic != kMagic) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", magic);
    return c.Error("bad magic " + std::string(buf), 0, "not a GGUF file (expected \"GGUF\")");
  }
  ASSIGN_OR_RETURN(h.version, c.Read<uint32_t>("header (version)"));
  if (h.version == 1) {
    return UnimplementedError("gguf: version 1 at offset 4 is not supported (only versions 2 and 3)");
  }
  if (h.version != 2 && h.version != 3) {
    std::string hint = (h.version & 0xffff) == 0 ? " (a big-endian file?)" : "";
    return UnimplementedError("gguf: unsupported version " + std::to_string(h.version) +
                              " at offset 4" + hint + " (only versions 2 and 3)");
  }
  ASSIGN_OR_RETURN(h.n_tensors, c.Read<uint64_t>("header (tensor count)"));
  ASSIGN_OR_RETURN(h.n_kv, c.Read<uint64_t>("header (metadata count)"));
  if (h.n_kv > c.remaining() / internal::kMinKvBytes) {
    return c.Error("too many keys (" + std::to_string(h.n_kv) + ")", 16,
                   "the " + std::to_string(c.remaining()) + " bytes left cannot hold them");
  }
  uint64_t min_bytes = h.n_kv * internal::kMinKvBytes;
  if (h.n_tensors > (c.remaining() - min_bytes) / internal::kMinTensorInfoBytes) {
    return c.Error("too many tensors (" + std::to_string(h.n_tensors) + ")", 8,
                   "the " + std::to_string(c.remaining()) + " bytes left cannot hold them");
  }
  return h;
}

struct Metadata {
  std::vector<std::pair<std::string, Value>> kvs;
  std::unordered_map<std::string, size_t> index;
  uint64_t alignment = kDefaultAlignment;
};

Status ReadAlignment(const Cursor& c, const Value& v, uint64_t offset, uint64_t* alignment) {
  std::optional<uint64_t> a = v.AsUint();
  if (!a.has_value()) {
    return c.Error("general.alignment has type " + std::string(ValueTypeName(v.type())), offset,
                   "expected an unsigned integer");
  }
  if (*a == 0 || !std::has_single_bit(*a)) {
    return c.Error("general.alignment " + std::to_string(*a) + " is not a power of two", offset);
  }
  *alignment = *a;
  return Status::Ok();
}

Status ReadMetadata(Cursor& c, uint64_t n_kv, Metadata* md) {
  md->kvs.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string where = "key " + std::to_string(i) + " of " + std::to_string(n_kv);
    c.set_where(where);
    uint64_t key_offset = c.pos();
    ASSIGN_OR_RETURN(std::string key, c.ReadString("key"));
    c.set_where(where + " " + Printable(key));
    if (md->index.count(key) != 0) return c.Error("duplicate key " + Printable(key), key_offset);
    uint64_t type_offset = c.pos();
    ASSIGN_OR_RETURN(uint32_t raw_type, c.Read<uint32_t>("value type"));
    if (!internal::IsValidValueType(raw_type)) {
      return c.Error("unknown value type " + std::to_string(raw_type), type_offset);
    }
    uint64_t value_offset = c.pos();
    ASSIGN_OR_RETURN(Value v, c.ReadValue(static_cast<ValueType>(raw_type), 0));
    if (key == "general.alignment") RETURN_IF_ERROR(ReadAlignment(c, v, value_offset, &md->alignment));
    md->index.emplace(key, md->kvs.size());
    md->kvs.emplace_back(std::move(key), std::move(v));
  }
  c.set_where("");
  return Status::Ok();
}

// Reads n_dims and the dims of tensor `name` into `shape`.
Status ReadShape(Cursor& c, const std::string& name, std::vector<int64_t>* shape) {
  uint64_t dims_offset = c.pos();
  ASSIGN_OR_RETURN(uint32_t n_dims, c.Read<uint32_t>("tensor n_dims"));
  if (n_dims > internal::kMaxDims) {
    return c.Error("tensor " + Printable(name) + " has " + std::to_string(n_dims) + " dims",
                   dims_offset, "at most 4 are allowed");
  }
  for (uint32_t d = 0; d < n_dims; ++d) {
    uint64_t dim_offset = c.pos();
    ASSIGN_OR_RETURN(int64_t dim, c.Read<int64_t>("tensor dim"));
    if (dim < 0) {
      return c.Error("tensor " + Printable(name) + " has negative dim " + std::to_string(dim),
                     dim_offset);
    }
    shape->push_back(dim);
  }
  // The element count must fit in int64 (ggml's limit), and so must every partial product, so that
  // n_elements() cannot overflow. A zero dim makes the tensor empty whatever the others are.
  if (std::find(shape->begin(), shape->end(), 0) != shape->end()) return Status::Ok();
  int64_t n_elements = 1;
  for (int64_t dim : *shape) {
    if (__builtin_mul_overflow(n_elements, dim, &n_elements)) {
      return c.Error("tensor " + Printable(name) + " element count overflows", dims_offset);
    }
  }
  return Status::Ok();
}

// ggml types that flotilla does not read; a file using them is valid but UNIMPLEMENTED here.
std::string_view UnsupportedGgmlTypeName(uint32_t id) {
  switch (id) {
    case 16: return "iq2_xxs";
    case 17: return "iq2_xs";
    case 18: return "iq3_xxs";
    case 19: return "iq1_s";
    case 20: return "iq4_nl";
    case 21: return "iq3_s";
    case 22: return "iq2_s";
    case 23: return "iq4_xs";
    case 29: return "iq1_m";
    case 34: return "tq1_0";
    case 35: return "tq2_0";
    case 39: return "mxfp4";
    default: return {};
  }
}

// Reads the dtype of `t` (whose shape is set) and computes t->n_bytes.
Status ReadDType(Cursor& c, uint64_t dims_offset, TensorInfo* t) {
  uint64_t type_offset = c.pos();
  ASSIGN_OR_RETURN(uint32_t dtype_id, c.Read<uint32_t>("tensor dtype"));
  std::optional<DTypeInfo> info = LookupDType(dtype_id);
  if (!info.has_value()) {
    std::string_view ggml_name = UnsupportedGgmlTypeName(dtype_id);
    if (!ggml_name.empty()) {
      return UnimplementedError("gguf: tensor " + Printable(t->name) + " at offset " +
                                std::to_string(type_offset) + " has dtype " +
                                std::to_string(dtype_id) + " (" + std::string(ggml_name) +
                                "), which flotilla does not support");
    }
    return c.Error("tensor " + Printable(t->name) + " has unknown dtype " + std::to_string(dtype_id),
                   type_offset);
  }
  t->dtype = info->dtype;
  uint64_t row_len = t->shape.empty() ? 1 : static_cast<uint64_t>(t->shape[0]);
  if (row_len % info->block_size != 0) {
    return c.Error("tensor " + Printable(t->name) + " row length " + std::to_string(row_len) +
                       " is not a multiple of the " + std::string(info->name) + " block size " +
                       std::to_string(info->block_size),
                   dims_offset);
  }
  uint64_t n_rows = 1;  // may wrap when a dim is zero; the product is then zero all the same
  for (size_t d = 1; d < t->shape.size(); ++d) n_rows *= static_cast<uint64_t>(t->shape[d]);
  uint64_t row_bytes = 0;
  if (__builtin_mul_overflow(row_len / info->block_size, uint64_t{info->block_bytes}, &row_bytes) ||
      __builtin_mul_overflow(row_bytes, n_rows, &t->n_bytes)) {
    return c.Error("tensor " + Printable(t->name) + " byte size overflows", dims_offset);
  }
  return Status::Ok();
}

// Reads one tensor info; `data` is left null (set once the data section is known).
Status ReadTensorInfo(Cursor& c, uint64_t alignment, TensorInfo* t) {
  ASSIGN_OR_RETURN(t->name, c.ReadString("tensor name"));
  uint64_t dims_offset = c.pos();
  RETURN_IF_ERROR(ReadShape(c, t->name, &t->shape));
  RETURN_IF_ERROR(ReadDType(c, dims_offset, t));
  uint64_t offset_offset = c.pos();
  ASSIGN_OR_RETURN(t->offset, c.Read<uint64_t>("tensor offset"));
  if (t->offset % alignment != 0) {
    return c.Error("tensor " + Printable(t->name) + " data offset " + std::to_string(t->offset) +
                       " is misaligned",
                   offset_offset, "not a multiple of the alignment " + std::to_string(alignment));
  }
  return Status::Ok();
}

Status ReadTensorInfos(Cursor& c, uint64_t n_tensors, uint64_t alignment,
                       std::vector<TensorInfo>* tensors,
                       std::unordered_map<std::string, size_t>* index,
                       std::vector<uint64_t>* info_offsets) {
  tensors->reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    c.set_where("tensor " + std::to_string(i) + " of " + std::to_string(n_tensors));
    uint64_t info_offset = c.pos();
    TensorInfo t;
    RETURN_IF_ERROR(ReadTensorInfo(c, alignment, &t));
    if (index->count(t.name) != 0) {
      return c.Error("duplicate tensor name " + Printable(t.name), info_offset);
    }
    index->emplace(t.name, tensors->size());
    tensors->push_back(std::move(t));
    info_offsets->push_back(info_offset);
  }
  c.set_where("");
  return Status::Ok();
}

// Checks that every tensor's bytes lie inside the file and that no two tensors overlap; sets `data`.
Status PlaceTensors(const Cursor& c, uint64_t data_offset, std::span<const uint8_t> bytes,
                    const std::vector<uint64_t>& info_offsets, std::vector<TensorInfo>* tensors) {
  if (tensors->empty()) return Status::Ok();
  if (data_offset > bytes.size()) {
    return c.Error("truncated file: data section", data_offset,
                   "the file ends at " + std::to_string(bytes.size()));
  }
  uint64_t data_size = bytes.size() - data_offset;
  for (size_t i = 0; i < tensors->size(); ++i) {
    TensorInfo& t = (*tensors)[i];
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      return c.Error("tensor " + Printable(t.name) + " data out of bounds", info_offsets[i],
                     "bytes [" + std::to_string(data_offset) + "+" + std::to_string(t.offset) + ", +" +
                         std::to_string(t.n_bytes) + ") extend past the end of the file (" +
                         std::to_string(bytes.size()) + " bytes)");
    }
    t.data = bytes.data() + data_offset + t.offset;
  }
  std::vector<size_t> order(tensors->size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return (*tensors)[a].offset < (*tensors)[b].offset;
  });
  const TensorInfo* prev = nullptr;
  for (size_t i : order) {
    const TensorInfo& t = (*tensors)[i];
    if (t.n_bytes == 0) continue;
    if (prev != nullptr && prev->offset + prev->n_bytes > t.offset) {
      return c.Error("tensor " + Printable(t.name) + " overlaps tensor " + Printable(prev->name),
                     info_offsets[i],
                     "data offset " + std::to_string(t.offset) + " < " +
                         std::to_string(prev->offset + prev->n_bytes));
    }
    prev = &t;
  }
  return Status::Ok();
}

}  // namespace

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d == 0) return 0;
  }
  for (int64_t d : shape) n *= d;  // the reader checked that every partial product fits
  return n;
}

StatusOr<File> File::Parse(std::span<const uint8_t> bytes) {
  Cursor c(bytes);
  ASSIGN_OR_RETURN(Header h, ReadHeader(c));
  Metadata md;
  RETURN_IF_ERROR(ReadMetadata(c, h.n_kv, &md));
  File f;
  f.version_ = h.version;
  f.alignment_ = md.alignment;
  f.metadata_ = std::move(md.kvs);
  f.metadata_index_ = std::move(md.index);
  std::vector<uint64_t> info_offsets;
  RETURN_IF_ERROR(ReadTensorInfos(c, h.n_tensors, f.alignment_, &f.tensors_, &f.tensor_index_,
                                  &info_offsets));
  if (c.pos() > UINT64_MAX - f.alignment_) return c.Error("alignment too large", c.pos());
  f.data_offset_ = internal::AlignUp(c.pos(), f.alignment_);
  f.size_ = bytes.size();
  RETURN_IF_ERROR(PlaceTensors(c, f.data_offset_, bytes, info_offsets, &f.tensors_));
  return f;
}

StatusOr<File> File::Open(const std::string& path) {
  StatusOr<MappedFile> map = MappedFile::Open(path);
  if (!map.ok()) return map.status();
  auto shared = std::make_shared<MappedFile>(std::move(map).value());
  StatusOr<File> f = Parse(shared->bytes());
  if (!f.ok()) return f.status().WithContext(path);
  f->map_ = std::move(shared);
  f->path_ = path;
  return f;
}

}  // namespace flotilla::gguf
