// Element types of tensors, numbered as GGUF/ggml numbers them (the ids are a file-format fact).
// Sizes only: dequantize/quantize live in tensor/quant*.h and the traits table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace flotilla {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct DTypeInfo {
  DType dtype;
  std::string_view name;  // as llama.cpp prints it: "f32", "q4_K"
  uint32_t block_size;    // elements per block (1 for plain types)
  uint32_t block_bytes;   // bytes per block
};

// Size facts for `id`, or nullopt when flotilla does not know the type (it may still be a valid ggml
// type, such as the IQ families, that we do not read).
std::optional<DTypeInfo> LookupDType(uint32_t id);
// Same, for a known enum value (never fails).
const DTypeInfo& GetDTypeInfo(DType dtype);
// Parses a name such as "q8_0" or "Q4_K" (case-insensitive).
std::optional<DType> DTypeFromName(std::string_view name);
inline std::string_view DTypeName(DType dtype) { return GetDTypeInfo(dtype).name; }

// Bytes of a row of `n_elements` of `dtype`; nullopt when n_elements is not a whole number of blocks
// or the byte count does not fit in 64 bits.
std::optional<uint64_t> RowBytes(DType dtype, uint64_t n_elements);

}  // namespace flotilla
