#include "kernels/repack.h"

#include <cstring>

#include "flotilla/check.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_k_fit.h"

namespace flotilla {
namespace {

// For every 16-row group g and block column b of w (rows of whole blocks of block_len elements),
// calls fill(src, r, dst) for r < 16, where src is row 16g + r's block b and dst the group's
// interleaved block b; the interleaved blocks are laid out group after group in out.
template <typename Block, typename GroupBlock, typename Fill>
void InterleaveBlocks(const TensorView& w, int64_t groups, int64_t block_len, uint8_t* out, const Fill& fill) {
  const int64_t nb = w.row_len() / block_len;
  auto* dst = reinterpret_cast<GroupBlock*>(out);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < nb; ++b, ++dst) {
      for (int r = 0; r < 16; ++r) fill(reinterpret_cast<const Block*>(w.row(g * 16 + r))[b], r, *dst);
    }
  }
}

void InterleaveQ8_0(const TensorView& w, int64_t groups, uint8_t* out) {
  InterleaveBlocks<BlockQ8_0, BlockQ8_0x16>(w, groups, kQK8_0, out, [](const BlockQ8_0& src, int r, BlockQ8_0x16& dst) {
    dst.d[r] = src.d;
    for (int k = 0; k < kQK8_0; ++k) dst.q[k / 4][r][k % 4] = static_cast<uint8_t>(src.qs[k] + 128);
  });
}

void InterleaveQ4_0(const TensorView& w, int64_t groups, uint8_t* out) {
  InterleaveBlocks<BlockQ4_0, BlockQ4_0x16>(w, groups, kQK4_0, out, [](const BlockQ4_0& src, int r, BlockQ4_0x16& dst) {
    dst.d[r] = src.d;
    for (int k = 0; k < kQK4_0 / 2; ++k) dst.q[k / 4][r][k % 4] = src.qs[k];
  });
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

// q[e] (0..15) for the 256 elements of a Q4_K block: sub-block j = e / 32 is nibble j % 2 of
// qs[32 (j / 2) + e % 32].
void Q4KQuants(const BlockQ4_K& blk, uint8_t* q) {
  for (int p = 0; p < 4; ++p) {
    for (int l = 0; l < 32; ++l) {
      q[64 * p + l] = blk.qs[32 * p + l] & 15;
      q[64 * p + 32 + l] = blk.qs[32 * p + l] >> 4;
    }
  }
}

// q[e] (0..63) for the 256 elements of a Q6_K block (the layout in tensor/quant_blocks.h).
void Q6KQuants(const BlockQ6_K& blk, uint8_t* q) {
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int a = blk.ql[64 * h + l], b = blk.ql[64 * h + 32 + l], c = blk.qh[32 * h + l];
      q[128 * h + l] = static_cast<uint8_t>((a & 15) | (c & 3) << 4);
      q[128 * h + 32 + l] = static_cast<uint8_t>((b & 15) | (c >> 2 & 3) << 4);
      q[128 * h + 64 + l] = static_cast<uint8_t>((a >> 4) | (c >> 4 & 3) << 4);
      q[128 * h + 96 + l] = static_cast<uint8_t>((b >> 4) | (c >> 6 & 3) << 4);
    }
  }
}

void InterleaveQ4_K(const TensorView& w, int64_t groups, uint8_t* out) {
  InterleaveBlocks<BlockQ4_K, BlockQ4_Kx16>(w, groups, kQK_K, out, [](const BlockQ4_K& src, int r, BlockQ4_Kx16& dst) {
    dst.d[r] = src.d;
    dst.dmin[r] = src.dmin;
    uint8_t q[kQK_K];
    Q4KQuants(src, q);
    for (int j = 0; j < 8; ++j) {
      kquant::GetScaleMinK4(j, src.scales, &dst.sc[j][r], &dst.mn[j / 2][r][j % 2]);
      for (int i = 0; i < 4; ++i) {
        for (int k = 0; k < 4; ++k) {
          const int e = 32 * j + 4 * i + k;
          dst.q[j][i][r][k] = static_cast<uint8_t>(q[e] | q[e + 16] << 4);
        }
      }
    }
  });
}

void InterleaveQ6_K(const TensorView& w, int64_t groups, uint8_t* out) {
  InterleaveBlocks<BlockQ6_K, BlockQ6_Kx16>(w, groups, kQK_K, out, [](const BlockQ6_K& src, int r, BlockQ6_Kx16& dst) {
    dst.d[r] = src.d;
    dst.pad[2 * r] = dst.pad[2 * r + 1] = 0;
    uint8_t q[kQK_K];
    Q6KQuants(src, q);
    for (int j = 0; j < 8; ++j) {
      dst.sc[j][r][0] = src.scales[2 * j];
      dst.sc[j][r][1] = src.scales[2 * j + 1];
      for (int k = 0; k < 4; ++k) {
        for (int i = 0; i < 4; ++i) {
          const int e = 32 * j + 4 * i + k;
          dst.ql[j][i][r][k] = static_cast<uint8_t>((q[e] & 15) | (q[e + 16] & 15) << 4);
        }
        for (int c = 0; c < 2; ++c) {
          uint8_t h = 0;
          for (int m = 0; m < 4; ++m) h |= static_cast<uint8_t>((q[32 * j + 16 * c + 4 * m + k] >> 4) << (2 * m));
          dst.qh[j][c][r][k] = h;
        }
      }
    }
  });
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

bool CanRebuildRows(DType dtype) { return InterleavedGroupBytes(dtype, kQK_K) != 0; }  // every interleaved type

namespace {

// The inverse of InterleaveBlocks for one row: calls take(src, r, dst) for every block column b, where
// src is the group's interleaved block b and dst the row's block b.
template <typename Block, typename GroupBlock, typename Take>
void RebuildBlocks(const uint8_t* group, int r, int64_t nb, uint8_t* row, const Take& take) {
  const auto* src = reinterpret_cast<const GroupBlock*>(group);
  auto* dst = reinterpret_cast<Block*>(row);
  for (int64_t b = 0; b < nb; ++b) take(src[b], r, dst[b]);
}

}  // namespace

void RebuildRow(const TensorView& w, int64_t i, uint8_t* row) {
  CHECK(w.rows16 != nullptr && CanRebuildRows(w.dtype) && i >= 0 && i < w.n_rows() / kInterleaveRows * kInterleaveRows);
  const int r = static_cast<int>(i % kInterleaveRows);
  const uint8_t* group = w.rows16 + static_cast<size_t>(i / kInterleaveRows) * InterleavedGroupBytes(w.dtype, w.row_len());
  const int64_t n = w.row_len();
  switch (w.dtype) {
    case DType::kQ8_0:
      return RebuildBlocks<BlockQ8_0, BlockQ8_0x16>(group, r, n / kQK8_0, row, [](const BlockQ8_0x16& src, int r, BlockQ8_0& dst) {
        dst.d = src.d[r];
        for (int k = 0; k < kQK8_0; ++k) dst.qs[k] = static_cast<int8_t>(src.q[k / 4][r][k % 4] - 128);
      });
    case DType::kQ4_0:
      return RebuildBlocks<BlockQ4_0, BlockQ4_0x16>(group, r, n / kQK4_0, row, [](const BlockQ4_0x16& src, int r, BlockQ4_0& dst) {
        dst.d = src.d[r];
        for (int k = 0; k < kQK4_0 / 2; ++k) dst.qs[k] = src.q[k / 4][r][k % 4];
      });
    case DType::kQ4_K:
      return RebuildBlocks<BlockQ4_K, BlockQ4_Kx16>(group, r, n / kQK_K, row, [](const BlockQ4_Kx16& src, int r, BlockQ4_K& dst) {
        dst.d = src.d[r];
        dst.dmin = src.dmin[r];
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; ++j) {
          sc[j] = src.sc[j][r];
          mn[j] = src.mn[j / 2][r][j % 2];
        }
        kquant::PackScalesMinsK(sc, mn, dst.scales);
        // Sub-block j is nibble j % 2 of qs[32 (j / 2) + 0..31]; its elements 4i + k and 16 + 4i + k
        // are the low and high nibbles of q[j][i][r][k].
        std::memset(dst.qs, 0, sizeof(dst.qs));
        for (int j = 0; j < 8; ++j) {
          uint8_t* qs = dst.qs + 32 * (j / 2);
          const int shift = 4 * (j % 2);
          for (int e = 0; e < 16; ++e) {
            const uint8_t v = src.q[j][e / 4][r][e % 4];
            qs[e] |= static_cast<uint8_t>((v & 15) << shift);
            qs[16 + e] |= static_cast<uint8_t>((v >> 4) << shift);
          }
        }
      });
    case DType::kQ6_K:
      return RebuildBlocks<BlockQ6_K, BlockQ6_Kx16>(group, r, n / kQK_K, row, [](const BlockQ6_Kx16& src, int r, BlockQ6_K& dst) {
        dst.d = src.d[r];
        uint8_t q[kQK_K];  // element 32j + 16c + 4i + k: low bits in nibble c of ql[j][i][r][k], high at 2i of qh[j][c][r][k]
        for (int j = 0; j < 8; ++j) {
          dst.scales[2 * j] = src.sc[j][r][0];
          dst.scales[2 * j + 1] = src.sc[j][r][1];
          for (int c = 0; c < 2; ++c) {
            for (int i = 0; i < 4; ++i) {
              for (int k = 0; k < 4; ++k) {
                q[32 * j + 16 * c + 4 * i + k] = static_cast<uint8_t>((src.ql[j][i][r][k] >> (4 * c) & 15) |
                                                                      (src.qh[j][c][r][k] >> (2 * i) & 3) << 4);
              }
            }
          }
        }
        // The file's layout (the inverse of Q6KQuants): each 128-element half h packs four runs of 32.
        for (int h = 0; h < 2; ++h) {
          for (int l = 0; l < 32; ++l) {
            const uint8_t* run = q + 128 * h + l;  // run[32 m] is element l of run m
            dst.ql[64 * h + l] = static_cast<uint8_t>((run[0] & 15) | (run[64] & 15) << 4);
            dst.ql[64 * h + 32 + l] = static_cast<uint8_t>((run[32] & 15) | (run[96] & 15) << 4);
            dst.qh[32 * h + l] =
                static_cast<uint8_t>(run[0] >> 4 | (run[32] >> 4) << 2 | (run[64] >> 4) << 4 | (run[96] >> 4) << 6);
          }
        }
      });
    default: {  // F32, F16, BF16: element k of the 16 rows side by side
      const size_t elem = w.dtype == DType::kF32 ? 4 : 2;
      for (int64_t k = 0; k < n; ++k) std::memcpy(row + k * elem, group + (static_cast<size_t>(k) * 16 + r) * elem, elem);
    }
  }
}

}  // namespace flotilla
