#include "kernels/repack.h"

#include <cstring>

#include "flotilla/check.h"
#include "kernels/matmul_kquant.h"
#include "tensor/quant_blocks.h"

namespace flotilla {
namespace {

// Row r's block b of w (rows of nb whole blocks of type Block).
template <typename Block>
const Block& RowBlock(const TensorView& w, int64_t r, int64_t b) {
  return reinterpret_cast<const Block*>(w.row(r))[b];
}

void InterleaveQ8_0(const TensorView& w, int64_t groups, uint8_t* out) {
  const int64_t nb = w.row_len() / kQK8_0;
  auto* dst = reinterpret_cast<BlockQ8_0x16*>(out);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < nb; ++b, ++dst) {
      for (int r = 0; r < 16; ++r) {
        const BlockQ8_0& src = RowBlock<BlockQ8_0>(w, g * 16 + r, b);
        dst->d[r] = src.d;
        for (int k = 0; k < kQK8_0; ++k) dst->q[k / 4][r][k % 4] = static_cast<uint8_t>(src.qs[k] + 128);
      }
    }
  }
}

void InterleaveQ4_0(const TensorView& w, int64_t groups, uint8_t* out) {
  const int64_t nb = w.row_len() / kQK4_0;
  auto* dst = reinterpret_cast<BlockQ4_0x16*>(out);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < nb; ++b, ++dst) {
      for (int r = 0; r < 16; ++r) {
        const BlockQ4_0& src = RowBlock<BlockQ4_0>(w, g * 16 + r, b);
        dst->d[r] = src.d;
        for (int k = 0; k < kQK4_0 / 2; ++k) dst->q[k / 4][r][k % 4] = src.qs[k];
      }
    }
  }
}

// F32, F16 and BF16: element k of the 16 rows side by side, elem_bytes each.
void InterleaveFloat(const TensorView& w, int64_t groups, size_t elem_bytes, uint8_t* out) {
  const int64_t n = w.row_len();
  for (int64_t g = 0; g < groups; ++g) {
    for (int r = 0; r < 16; ++r) {
      const uint8_t* src = w.row(g * 16 + r);
      for (int64_t k = 0; k < n; ++k) {
        std::memcpy(out + (static_cast<size_t>(k) * 16 + r) * elem_bytes, src + k * elem_bytes, elem_bytes);
      }
    }
    out += static_cast<size_t>(n) * 16 * elem_bytes;
  }
}

}  // namespace

size_t InterleavedGroupBytes(DType dtype, int64_t row_len) {
  switch (dtype) {
    case DType::kQ8_0: return static_cast<size_t>(row_len / kQK8_0) * sizeof(BlockQ8_0x16);
    case DType::kQ4_0: return static_cast<size_t>(row_len / kQK4_0) * sizeof(BlockQ4_0x16);
    case DType::kQ4_K: return static_cast<size_t>(row_len / kQK_K) * sizeof(BlockQ4_Kx16);
    case DType::kQ6_K: return static_cast<size_t>(row_len / kQK_K) * sizeof(BlockQ6_Kx16);
    case DType::kF32: return static_cast<size_t>(row_len) * 16 * 4;
    case DType::kF16:
    case DType::kBF16: return static_cast<size_t>(row_len) * 16 * 2;
    default: return 0;
  }
}

size_t InterleavedBytes(const TensorView& w) {
  return static_cast<size_t>(w.n_rows() / kInterleaveRows) * InterleavedGroupBytes(w.dtype, w.row_len());
}

void InterleaveRows(const TensorView& w, uint8_t* out) {
  const int64_t groups = w.n_rows() / kInterleaveRows;
  switch (w.dtype) {
    case DType::kQ8_0: return InterleaveQ8_0(w, groups, out);
    case DType::kQ4_0: return InterleaveQ4_0(w, groups, out);
    case DType::kQ4_K: return InterleaveQ4_K(w, groups, out);
    case DType::kQ6_K: return InterleaveQ6_K(w, groups, out);
    case DType::kF32: return InterleaveFloat(w, groups, 4, out);
    case DType::kF16:
    case DType::kBF16: return InterleaveFloat(w, groups, 2, out);
    default: CHECK(false);
  }
}

}  // namespace flotilla
