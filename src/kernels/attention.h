// Causal attention of one key/value head over a KV cache stored as F16 or F32 (dispatched SIMD), for
// the query heads that share it (grouped-query attention: they share every key and value load).
//
// Keys are stored in tiles of kAttnKeyTile positions, transposed within a tile: dimension d of key p
// at kt[(p / kAttnKeyTile) * kt_tile_stride + d * kAttnKeyTile + p % kAttnKeyTile], so that scores
// of 16 keys at a time are plain multiply-adds without horizontal sums, while a key's store and a
// tile's reads stay within kt_tile_stride contiguous elements (a cache transposed whole would put a
// key's elements n_ctx apart: a page and a cache set each). Values are stored by key,
// v[p * v_stride + d]. With an F16 cache, q and the softmax weights are rounded to F16 values before
// their products, as llama.cpp's F16 matrix products do.
#pragma once

#include <cstdint>

namespace flotilla {

// Positions per key tile. Every tile holding a key is read whole (positions past the last key are
// read, never used), so a cache holds whole tiles.
inline constexpr int32_t kAttnKeyTile = 64;

// Index of dimension d of key p in a tiled key cache whose tiles are tile_stride elements apart.
inline int64_t KeyTileIndex(int64_t p, int64_t d, int64_t tile_stride) {
  return p / kAttnKeyTile * tile_stride + d * kAttnKeyTile + p % kAttnKeyTile;
}

struct AttnHeadArgs {
  const float* q;        // [n_rows] query rows at stride q_stride, each n_heads heads of head_dim floats
  int64_t q_stride;
  const void* kt;        // this head's keys in tiles: [tiles][head_dim][kAttnKeyTile], see above
  int64_t kt_tile_stride;  // elements from one key tile to the next (>= head_dim * kAttnKeyTile)
  const void* v;         // this head's values: [keys][v_stride], head_dim used per key
  int64_t v_stride;
  int32_t n_rows;        // query rows of the block
  int32_t n_keys0;       // row j (< n_rows) attends keys [0, n_keys0 + j); n_keys0 >= 1
  int32_t head_dim;
  int32_t n_heads = 1;   // query heads sharing these keys: head h of row j at q + j * q_stride + h * head_dim
  float scale;           // applied to the dot products before the softmax
  bool f16;              // cache type: F16 (true) or F32
  float* out;            // [n_rows] rows of n_heads x head_dim floats at stride out_stride (overwritten)
  int64_t out_stride;
};

// Floats of scratch AttnHead needs for these arguments.
int64_t AttnHeadScratch(int32_t n_rows, int32_t n_keys0, int32_t head_dim, int32_t n_heads = 1);

// out[j, h] = sum_p softmax_p(scale * q[j, h] . k[p]) * v[p] over p < n_keys0 + j, for each row j and
// head h < n_heads (the heads of a row are tiled together: one key or value load feeds several).
// scratch: AttnHeadScratch(...) floats.
void AttnHead(const AttnHeadArgs& a, float* scratch);

// Requests into L1 the cache lines of the keys and values AttnHead(a) reads (at most the first 32 KiB
// of each, and the block's own positions), so that their loads overlap whatever the caller does before
// AttnHead: decoding, the rotation and cache store of the rows. A hint only: nothing is read or written.
void PrefetchAttnHead(const AttnHeadArgs& a);

// The same with scalar loops (the oracle; also rounds through F16 for an F16 cache).
void AttnHead_ref(const AttnHeadArgs& a);

}  // namespace flotilla
