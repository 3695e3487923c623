// Writers of the 16-row interleaved Q4_K and Q6_K layouts (kernels/repack.h).
#include "kernels/matmul_kquant.h"
#include "kernels/repack.h"
#include "tensor/quant_blocks.h"

namespace flotilla {
namespace {

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

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K block (the packing of tensor/quant_k_fit.h).
void Q4KScaleMin(const BlockQ4_K& blk, int j, uint8_t* sc, uint8_t* mn) {
  const uint8_t* q = blk.scales;
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
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

template <typename Block>
const Block& RowBlock(const TensorView& w, int64_t r, int64_t b) {
  return reinterpret_cast<const Block*>(w.row(r))[b];
}

}  // namespace

void InterleaveQ4_K(const TensorView& w, int64_t groups, uint8_t* out) {
  const int64_t nb = w.row_len() / kQK_K;
  auto* dst = reinterpret_cast<BlockQ4_Kx16*>(out);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < nb; ++b, ++dst) {
      for (int r = 0; r < 16; ++r) {
        const BlockQ4_K& src = RowBlock<BlockQ4_K>(w, g * 16 + r, b);
        dst->d[r] = src.d;
        dst->dmin[r] = src.dmin;
        uint8_t q[kQK_K];
        Q4KQuants(src, q);
        for (int j = 0; j < 8; ++j) {
          Q4KScaleMin(src, j, &dst->sc[j][r], &dst->mn[j / 2][r][j % 2]);
          for (int i = 0; i < 4; ++i) {
            for (int k = 0; k < 4; ++k) {
              const int e = 32 * j + 4 * i + k;
              dst->q[j][i][r][k] = static_cast<uint8_t>(q[e] | q[e + 16] << 4);
            }
          }
        }
      }
    }
  }
}

void InterleaveQ6_K(const TensorView& w, int64_t groups, uint8_t* out) {
  const int64_t nb = w.row_len() / kQK_K;
  auto* dst = reinterpret_cast<BlockQ6_Kx16*>(out);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < nb; ++b, ++dst) {
      for (int r = 0; r < 16; ++r) {
        const BlockQ6_K& src = RowBlock<BlockQ6_K>(w, g * 16 + r, b);
        dst->d[r] = src.d;
        dst->pad[2 * r] = dst->pad[2 * r + 1] = 0;
        uint8_t q[kQK_K];
        Q6KQuants(src, q);
        for (int j = 0; j < 8; ++j) {
          dst->sc[j][r][0] = src.scales[2 * j];
          dst->sc[j][r][1] = src.scales[2 * j + 1];
          for (int k = 0; k < 4; ++k) {
            for (int i = 0; i < 4; ++i) {
              const int e = 32 * j + 4 * i + k;
              dst->ql[j][i][r][k] = static_cast<uint8_t>((q[e] & 15) | (q[e + 16] & 15) << 4);
            }
            for (int c = 0; c < 2; ++c) {
              uint8_t h = 0;
              for (int m = 0; m < 4; ++m) {
                h |= static_cast<uint8_t>((q[32 * j + 16 * c + 4 * m + k] >> 4) << (2 * m));
              }
              dst->qh[j][c][r][k] = h;
            }
          }
        }
      }
    }
  }
}

}  // namespace flotilla
