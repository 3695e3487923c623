// A read-only view of a tensor's bytes (usually in a mapped GGUF file). Shapes follow ggml: ne[0] is
// the row length (contiguous), ne[1] the number of rows; ne[2], ne[3] stack further.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace flotilla {

struct TensorView {
  DType dtype = DType::kF32;
  int64_t ne[4] = {1, 1, 1, 1};
  const uint8_t* data = nullptr;
  // Optional: the same weights with rows interleaved in groups of 16 for the matmul kernels
  // (kernels/repack.h), owned by whoever set it (the Model); null when there is no such copy.
  const uint8_t* rows16 = nullptr;

  int64_t row_len() const { return ne[0]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  int64_t n_elements() const { return ne[0] * n_rows(); }
  // Bytes of one row; rows are whole blocks in every tensor a loader accepts.
  uint64_t row_bytes() const {
    const DTypeInfo& info = GetDTypeInfo(dtype);
    return static_cast<uint64_t>(ne[0]) / info.block_size * info.block_bytes;
  }
  const uint8_t* row(int64_t i) const { return data + static_cast<uint64_t>(i) * row_bytes(); }
};

}  // namespace flotilla
