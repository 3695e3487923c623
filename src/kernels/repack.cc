#include "kernels/repack.h"

#include <cstring>

#include "flotilla/check.h"
#include "kernels/matmul.h"
#include "tensor/quant_blocks.h"

namespace flotilla {

size_t InterleavedBytes(const TensorView& w) {
  const int64_t groups = w.n_rows() / kInterleaveRows;
  switch (w.dtype) {
    case DType::kQ8_0: return static_cast<size_t>(groups * (w.row_len() / kQK8_0)) * sizeof(BlockQ8_0x16);
    case DType::kQ4_0: return static_cast<size_t>(groups * (w.row_len() / kQK4_0)) * sizeof(BlockQ4_0x16);
    default: return 0;
  }
}

void InterleaveRows(const TensorView& w, uint8_t* out) {
  const int64_t groups = w.n_rows() / kInterleaveRows;
  if (w.dtype == DType::kQ8_0) {
    const int64_t nb = w.row_len() / kQK8_0;
    auto* dst = reinterpret_cast<BlockQ8_0x16*>(out);
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t b = 0; b < nb; ++b, ++dst) {
        for (int r = 0; r < 16; ++r) {
          const auto* src = reinterpret_cast<const BlockQ8_0*>(w.row(g * 16 + r)) + b;
          dst->d[r] = src->d;
          for (int k = 0; k < kQK8_0; ++k) dst->q[k / 4][r][k % 4] = static_cast<uint8_t>(src->qs[k] + 128);
        }
      }
    }
    return;
  }
  CHECK(w.dtype == DType::kQ4_0);
  const int64_t nb = w.row_len() / kQK4_0;
  auto* dst = reinterpret_cast<BlockQ4_0x16*>(out);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < nb; ++b, ++dst) {
      for (int r = 0; r < 16; ++r) {
        const auto* src = reinterpret_cast<const BlockQ4_0*>(w.row(g * 16 + r)) + b;
        dst->d[r] = src->d;
        for (int k = 0; k < kQK4_0 / 2; ++k) dst->q[k / 4][r][k % 4] = src->qs[k];
      }
    }
  }
}

}  // namespace flotilla
