#include "tensor/dtype.h"

#include <array>
#include <cctype>
#include <cstdint>

#include "flotilla/check.h"

namespace flotilla {
namespace {

// Block layouts from ggml's ggml-common.h (QK_K = 256).
constexpr std::array<DTypeInfo, 20> kDTypes = {{
    {DType::kF32, "f32", 1, 4},
    {DType::kF16, "f16", 1, 2},
    {DType::kQ4_0, "q4_0", 32, 2 + 16},
    {DType::kQ4_1, "q4_1", 32, 2 + 2 + 16},
    {DType::kQ5_0, "q5_0", 32, 2 + 4 + 16},
    {DType::kQ5_1, "q5_1", 32, 2 + 2 + 4 + 16},
    {DType::kQ8_0, "q8_0", 32, 2 + 32},
    {DType::kQ8_1, "q8_1", 32, 2 + 2 + 32},
    {DType::kQ2_K, "q2_K", 256, 16 + 64 + 2 + 2},
    {DType::kQ3_K, "q3_K", 256, 32 + 64 + 12 + 2},
    {DType::kQ4_K, "q4_K", 256, 2 + 2 + 12 + 128},
    {DType::kQ5_K, "q5_K", 256, 2 + 2 + 12 + 32 + 128},
    {DType::kQ6_K, "q6_K", 256, 128 + 64 + 16 + 2},
    {DType::kQ8_K, "q8_K", 256, 4 + 256 + 16 * 2},
    {DType::kI8, "i8", 1, 1},
    {DType::kI16, "i16", 1, 2},
    {DType::kI32, "i32", 1, 4},
    {DType::kI64, "i64", 1, 8},
    {DType::kF64, "f64", 1, 8},
    {DType::kBF16, "bf16", 1, 2},
}};

}  // namespace

std::optional<DTypeInfo> LookupDType(uint32_t id) {
  for (const DTypeInfo& info : kDTypes) {
    if (static_cast<uint32_t>(info.dtype) == id) return info;
  }
  return std::nullopt;
}

const DTypeInfo& GetDTypeInfo(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  CHECK(false && "DType missing from the table");
}

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(name[i])) ==
             std::tolower(static_cast<unsigned char>(info.name[i]));
    }
    if (same) return info.dtype;
  }
  return std::nullopt;
}

std::optional<uint64_t> RowBytes(DType dtype, uint64_t n_elements) {
  const DTypeInfo& info = GetDTypeInfo(dtype);
  if (n_elements % info.block_size != 0) return std::nullopt;
  const uint64_t blocks = n_elements / info.block_size;
  if (blocks > UINT64_MAX / info.block_bytes) return std::nullopt;  // would wrap around
  return blocks * info.block_bytes;
}

}  // namespace flotilla
