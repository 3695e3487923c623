// Internal facts about the GGUF encoding shared by the reader and the writer (not a public API).
//
// Layout (v2 and v3, little-endian):
//   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   n_kv x { string key | u32 value_type | value }
//   n_tensors x { string name | u32 n_dims | n_dims x i64 dim | u32 dtype | u64 offset }
//   zero padding to `alignment` | data section (each tensor at an aligned offset, zero padding between)
// string = u64 length + bytes (no terminator); array = u32 elem_type + u64 count + items.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gguf/gguf.h"

namespace flotilla::gguf::internal {

inline constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
inline constexpr int kMaxArrayDepth = 64;        // nesting bound for arrays of arrays
inline constexpr uint64_t kHeaderBytes = 24;     // magic, version, n_tensors, n_kv
inline constexpr uint64_t kMinKvBytes = 8 + 4 + 1;           // empty key, type, one-byte value
inline constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims=0, dtype, offset

inline bool IsValidValueType(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

// Bytes of a fixed-size scalar; 0 for kString and kArray.
inline uint64_t ScalarBytes(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    case ValueType::kString: case ValueType::kArray: return 0;
  }
  return 0;
}

// Smallest possible encoding of one value of type `t` (used to bound counts by the bytes left).
inline uint64_t MinValueBytes(ValueType t) {
  if (t == ValueType::kString) return 8;
  if (t == ValueType::kArray) return 4 + 8;
  return ScalarBytes(t);
}

inline bool IsUnsignedType(ValueType t) {
  return t == ValueType::kUint8 || t == ValueType::kUint16 || t == ValueType::kUint32 ||
         t == ValueType::kUint64;
}
inline bool IsSignedType(ValueType t) {
  return t == ValueType::kInt8 || t == ValueType::kInt16 || t == ValueType::kInt32 ||
         t == ValueType::kInt64;
}

inline uint64_t AlignUp(uint64_t x, uint64_t alignment) {
  return (x + alignment - 1) / alignment * alignment;
}

}  // namespace flotilla::gguf::internal
