// Weights interleaved in groups of 16 rows for the AVX-512 VNNI matmul kernels (and, as two halves of 8
// rows, the AVX2 ones: kernels/matmul_groups_avx2.h).
//
// In the file layout a block holds 32 weights of one row, so an integer dot product leaves 8 partial
// sums of ONE row in a vector and every block costs a horizontal reduction. Interleaved, one 512-bit
// vector holds 4 consecutive weights of each of 16 rows: vpdpbusd against 4 activations broadcast to
// all lanes adds to 16 rows' sums at once (lane r = row r), the per-block scales of the 16 rows form
// one vector, and results store straight into y. llama.cpp repacks Q4_0 for the same reason.
//
// Layout of a tensor with n_in = 32 * nb: group g (rows 16g .. 16g+15) is nb consecutive blocks,
// group g starting at byte g * nb * sizeof(block):
//   Q8_0: Q8_0x16 { uint16_t d[16]; uint8_t q[8][16][4]; }   q[j][r][i] = w_r[32b + 4j + i] + 128
//   Q4_0: Q4_0x16 { uint16_t d[16]; uint8_t q[4][16][4]; }   q[j][r][i] = qs_r[4j + i]
//   F32 / F16 / BF16: w[k][16], element k of the 16 rows side by side (the file's element type).
//   Q4_K (nb = n_in / 256 super-blocks): Q4_Kx16 { uint16_t d[16], dmin[16]; uint8_t sc[8][16],
//     mn[4][16][2]; uint8_t q[8][4][16][4]; }: sc[j][r] = row r's 6-bit scale of sub-block j (32
//     elements), mn[p][r][h] its min of sub-block 2p + h (pairs for vpdpwssd against pairs of
//     sub-block sums of x), unpacked; q[j][i][r][k] low nibble = q of element 32j + 4i + k, high
//     nibble = of element 32j + 16 + 4i + k (unsigned 0..15).
//   Q6_K: Q6_Kx16 { uint16_t d[16]; int8_t sc[8][16][2]; uint8_t ql[8][4][16][4], qh[8][2][16][4], pad[32]; }:
//     sc[j][r][h] = row r's scale of sub-block 2j + h (16 elements); q (0..63, stored unsigned, the
//     -32 left to the kernel) of element 32j + 16c + 4i + k has its low 4 bits in nibble c of
//     ql[j][i][r][k] and its high 2 bits at bits 2i, 2i+1 of qh[j][c][r][k]. The padding keeps every
//     block on whole cache lines (unaligned, loads from memory were 20% slower).
//   (kernels/kquant_interleave.cc writes both; matmul_kquant_simd.cc reads them.)
// d[r] is row r's fp16 block scale. Q8_0 weights are stored offset to unsigned (vpdpbusd multiplies
// unsigned by signed bytes); Q4_0 keeps the file's nibble bytes (low nibble = element 4j + i, high
// nibble = element 16 + 4j + i, both unsigned 0..15 with the -8 left to the kernel). Rows past the
// last full group exist only in the original layout.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/tensor_view.h"

namespace flotilla {

constexpr int64_t kInterleaveRows = 16;

struct BlockQ8_0x16 {
  uint16_t d[16];
  uint8_t q[8][16][4];
};
static_assert(sizeof(BlockQ8_0x16) == 32 + 512);

struct BlockQ4_0x16 {
  uint16_t d[16];
  uint8_t q[4][16][4];
};
static_assert(sizeof(BlockQ4_0x16) == 32 + 256);

struct BlockQ4_Kx16 {
  uint16_t d[16];
  uint16_t dmin[16];
  uint8_t sc[8][16];
  uint8_t mn[4][16][2];
  uint8_t q[8][4][16][4];
};
static_assert(sizeof(BlockQ4_Kx16) == 64 + 256 + 2048);

struct BlockQ6_Kx16 {
  uint16_t d[16];
  int8_t sc[8][16][2];
  uint8_t ql[8][4][16][4];
  uint8_t qh[8][2][16][4];
  uint8_t pad[32];
};
static_assert(sizeof(BlockQ6_Kx16) == 16 * 210 + 32);

// Bytes of one 16-row group of rows of row_len elements; 0 when dtype has no interleaved layout.
size_t InterleavedGroupBytes(DType dtype, int64_t row_len);

// Bytes of w's interleaved copy: 0 when w's dtype has no interleaved layout or w has fewer than 16 rows.
size_t InterleavedBytes(const TensorView& w);

// Writes the interleaved copy of w's full 16-row groups to out (InterleavedBytes(w) bytes).
void InterleaveRows(const TensorView& w, uint8_t* out);

// Row i of w in the file's layout (w.row_bytes() bytes to `row`), rebuilt from w's interleaved copy
// (w.rows16, i below the rows of its full groups): the bytes InterleaveRows read. For every type with
// an interleaved layout: F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K (CanRebuildRows).
bool CanRebuildRows(DType dtype);
void RebuildRow(const TensorView& w, int64_t i, uint8_t* row);

// True when the matmul kernels chosen for this CPU read interleaved weights (TensorView::rows16), of
// every type with a layout: AVX-512 VNNI and AVX2. Elsewhere a copy would only cost memory.
bool InterleavedKernelsAvailable();

}  // namespace flotilla
