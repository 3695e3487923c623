#include "tensor/traits.h"

#include <array>
#include <string>

#include "base/thread_pool.h"
#include "tensor/quant.h"

namespace flotilla {
namespace {

// Sizes are filled from the dtype table at first use so the two can never disagree.
struct KernelRow {
  DType dtype;
  DequantizeRowFn dequantize_row;
  QuantizeRowFn quantize_row;
};

constexpr std::array<KernelRow, 20> kKernels = {{
    {DType::kF32, DequantizeRowF32_ref, QuantizeRowF32_ref},
    {DType::kF16, DequantizeRowF16_ref, QuantizeRowF16_ref},
    {DType::kBF16, DequantizeRowBF16_ref, QuantizeRowBF16_ref},
    {DType::kQ4_0, DequantizeRowQ4_0_ref, QuantizeRowQ4_0_ref},
    {DType::kQ4_1, DequantizeRowQ4_1_ref, QuantizeRowQ4_1_ref},
    {DType::kQ5_0, DequantizeRowQ5_0_ref, QuantizeRowQ5_0_ref},
    {DType::kQ5_1, DequantizeRowQ5_1_ref, QuantizeRowQ5_1_ref},
    {DType::kQ8_0, DequantizeRowQ8_0_ref, QuantizeRowQ8_0_ref},
    {DType::kQ8_1, DequantizeRowQ8_1_ref, QuantizeRowQ8_1_ref},
    {DType::kQ2_K, DequantizeRowQ2_K_ref, QuantizeRowQ2_K_ref},
    {DType::kQ3_K, DequantizeRowQ3_K_ref, QuantizeRowQ3_K_ref},
    {DType::kQ4_K, DequantizeRowQ4_K_ref, QuantizeRowQ4_K_ref},
    {DType::kQ5_K, DequantizeRowQ5_K_ref, QuantizeRowQ5_K_ref},
    {DType::kQ6_K, DequantizeRowQ6_K_ref, QuantizeRowQ6_K_ref},
    {DType::kQ8_K, DequantizeRowQ8_K_ref, QuantizeRowQ8_K_ref},
    {DType::kI8, nullptr, nullptr},
    {DType::kI16, nullptr, nullptr},
    {DType::kI32, nullptr, nullptr},
    {DType::kI64, nullptr, nullptr},
    {DType::kF64, nullptr, nullptr},
}};

std::array<DTypeTraits, kKernels.size()> BuildTraits() {
  std::array<DTypeTraits, kKernels.size()> out{};
  for (size_t i = 0; i < kKernels.size(); ++i) {
    const DTypeInfo& info = GetDTypeInfo(kKernels[i].dtype);
    out[i] = {kKernels[i].dtype, info.block_size, info.block_bytes, kKernels[i].dequantize_row,
              kKernels[i].quantize_row};
  }
  return out;
}

}  // namespace

const DTypeTraits& GetTraits(DType dtype) {
  static const std::array<DTypeTraits, kKernels.size()> traits = BuildTraits();
  for (const DTypeTraits& t : traits) {
    if (t.dtype == dtype) return t;
  }
  CHECK(false && "DType missing from the traits table");
}

Status DequantizeTensor(DType dtype, std::span<const uint8_t> src, int64_t n, float* dst) {
  const DTypeTraits& t = GetTraits(dtype);
  const std::string name(DTypeName(dtype));
  if (t.dequantize_row == nullptr) {
    return UnimplementedError("cannot dequantize tensors of type " + name);
  }
  if (n < 0 || n % t.block_size != 0) {
    return InvalidArgumentError("element count " + std::to_string(n) + " is not a multiple of the " +
                                name + " block size " + std::to_string(t.block_size));
  }
  const uint64_t want = static_cast<uint64_t>(n) / t.block_size * t.block_bytes;
  if (src.size() != want) {
    return InvalidArgumentError(std::to_string(n) + " elements of " + name + " take " +
                                std::to_string(want) + " bytes, got " + std::to_string(src.size()));
  }
  if (n > 0) t.dequantize_row(src.data(), dst, n);
  return Status::Ok();
}

StatusOr<std::vector<uint8_t>> QuantizeTensor(DType dtype, const float* src, int64_t n_rows, int64_t row_len,
                                              ThreadPool* pool) {
  const DTypeTraits& t = GetTraits(dtype);
  const std::string name(DTypeName(dtype));
  if (t.quantize_row == nullptr) {
    return UnimplementedError("cannot quantize to type " + name);
  }
  if (n_rows < 0 || row_len < 0) {
    return InvalidArgumentError("negative tensor shape [" + std::to_string(n_rows) + ", " +
                                std::to_string(row_len) + "]");
  }
  if (row_len % t.block_size != 0) {
    return InvalidArgumentError("row length " + std::to_string(row_len) + " is not a multiple of the " +
                                name + " block size " + std::to_string(t.block_size));
  }
  const uint64_t row_bytes = static_cast<uint64_t>(row_len) / t.block_size * t.block_bytes;
  std::vector<uint8_t> out(row_bytes * static_cast<uint64_t>(n_rows));
  if (row_len == 0) return out;
  const auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) t.quantize_row(src + r * row_len, out.data() + r * row_bytes, row_len);
  };
  if (pool != nullptr) {
    pool->ParallelFor(n_rows, rows);
  } else {
    rows(0, n_rows);
  }
  return out;
}

}  // namespace flotilla
