// Highway version of the attention head declared in attention.h, and its scalar oracle.
//
// Per tile of up to 4 queries (the heads of each row in turn, then the next row's): scores for 4
// vectors of keys at a time from a key tile (one key vector load feeds the multiply-adds of every
// query; no horizontal sums), the softmax of each query over its row's causal span, then the
// weighted sum over value rows (one value load feeds every query; weights past a query's span are
// zero).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <vector>

#include "flotilla/check.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/prefetch.h"
#include "tensor/fp16.h"

#ifndef FLOTILLA_KERNELS_ATTENTION_SIMD_ONCE_
#define FLOTILLA_KERNELS_ATTENTION_SIMD_ONCE_
namespace flotilla {
inline constexpr int kAttnQueryTile = 4;  // queries (row, head) sharing each key and value load
inline float RoundF16(float x) { return FP16ToFP32(FP32ToFP16(x)); }
inline int64_t RoundUpKeys(int64_t n) { return (n + kAttnKeyTile - 1) / kAttnKeyTile * kAttnKeyTile; }
inline float KvElem(const void* base, int64_t i, bool f16) {
  return f16 ? FP16ToFP32(static_cast<const uint16_t*>(base)[i]) : static_cast<const float*>(base)[i];
}
}  // namespace flotilla
#endif

HWY_BEFORE_NAMESPACE();
namespace flotilla {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::CappedTag<float, 16>;  // kKeyVecs * lanes divides kAttnKeyTile
constexpr int kKeyVecs = 4;           // key vectors per pass of the scores loop
constexpr int kDimVecs = 4;           // value vectors per pass of the weighted sum

template <class D>
HWY_INLINE hn::Vec<D> LoadKv(D d, const void* base, int64_t i, bool f16) {
  if (f16) {
    const hn::Rebind<hwy::float16_t, D> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, static_cast<const hwy::float16_t*>(base) + i));
  }
  return hn::LoadU(d, static_cast<const float*>(base) + i);
}

// x[0..n) rounded to F16 values (nearest, ties to even, as FP32ToFP16).
HWY_INLINE void RoundToF16(float* x, int64_t n) {
  int64_t i = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2  // F16C conversions round to nearest even
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> dh;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::PromoteTo(df, hn::DemoteTo(dh, hn::LoadU(df, x + i))), df, x + i);
#endif
  for (; i < n; ++i) x[i] = RoundF16(x[i]);
}

// s[j * kp + p] = scale * qt[j] . k[p] for j < R and p < n_keys_end (and up to the next multiple of
// the pass width, unused). qt: [R][head_dim].
template <int R>
void Scores(const AttnHeadArgs& a, const float* qt, int32_t n_keys_end, float* s, int64_t kp) {
  const DF df;
  const int32_t lanes = static_cast<int32_t>(hn::Lanes(df));
  const auto vscale = hn::Set(df, a.scale);
  for (int32_t p0 = 0; p0 < n_keys_end; p0 += kKeyVecs * lanes) {
    hn::Vec<DF> acc[R][kKeyVecs];
    for (int j = 0; j < R; ++j) {
      for (int c = 0; c < kKeyVecs; ++c) acc[j][c] = hn::Zero(df);
    }
    const int64_t tile = KeyTileIndex(p0, 0, a.kt_tile_stride);  // a pass stays within one tile
    for (int32_t d = 0; d < a.head_dim; ++d) {
      const int64_t base = tile + static_cast<int64_t>(d) * kAttnKeyTile;
      hn::Vec<DF> kv[kKeyVecs];
      for (int c = 0; c < kKeyVecs; ++c) kv[c] = LoadKv(df, a.kt, base + c * lanes, a.f16);
      for (int j = 0; j < R; ++j) {
        const auto qd = hn::Set(df, qt[j * a.head_dim + d]);
        for (int c = 0; c < kKeyVecs; ++c) acc[j][c] = hn::MulAdd(qd, kv[c], acc[j][c]);
      }
    }
    for (int j = 0; j < R; ++j) {
      for (int c = 0; c < kKeyVecs; ++c) hn::StoreU(hn::Mul(acc[j][c], vscale), df, s + j * kp + p0 + c * lanes);
    }
  }
}

// out[j][0..head_dim) = sum_p s[j][p] * v[p] for p < n_keys_end, j < R; head_dim % Lanes(dv) == 0.
template <int R, class DV>
void WeightedSum(DV dv, const AttnHeadArgs& a, float* const* out, const float* s, int64_t kp, int32_t n_keys_end) {
  const int32_t lanes = static_cast<int32_t>(hn::Lanes(dv));
  for (int32_t d0 = 0; d0 < a.head_dim; d0 += kDimVecs * lanes) {
    const int nc = std::min<int>(kDimVecs, (a.head_dim - d0) / lanes);
    hn::Vec<DV> acc[R][kDimVecs];
    for (int j = 0; j < R; ++j) {
      for (int c = 0; c < kDimVecs; ++c) acc[j][c] = hn::Zero(dv);
    }
    for (int32_t p = 0; p < n_keys_end; ++p) {
      const int64_t base = static_cast<int64_t>(p) * a.v_stride + d0;
      hn::Vec<DV> vv[kDimVecs];
      for (int c = 0; c < kDimVecs; ++c) vv[c] = c < nc ? LoadKv(dv, a.v, base + c * lanes, a.f16) : hn::Zero(dv);
      for (int j = 0; j < R; ++j) {
        const auto w = hn::Set(dv, s[j * kp + p]);
        for (int c = 0; c < kDimVecs; ++c) acc[j][c] = hn::MulAdd(w, vv[c], acc[j][c]);
      }
    }
    for (int j = 0; j < R; ++j) {
      for (int c = 0; c < nc; ++c) hn::StoreU(acc[j][c], dv, out[j] + d0 + c * lanes);
    }
  }
}

template <int R>
void WeightedSumAnyDim(const AttnHeadArgs& a, float* const* out, const float* s, int64_t kp, int32_t n_keys_end) {
  if (a.head_dim % 16 == 0) return WeightedSum<R>(hn::CappedTag<float, 16>(), a, out, s, kp, n_keys_end);
  if (a.head_dim % 8 == 0) return WeightedSum<R>(hn::CappedTag<float, 8>(), a, out, s, kp, n_keys_end);
  if (a.head_dim % 4 == 0) return WeightedSum<R>(hn::CappedTag<float, 4>(), a, out, s, kp, n_keys_end);
  for (int j = 0; j < R; ++j) {  // odd head sizes: scalar
    for (int32_t d = 0; d < a.head_dim; ++d) {
      float acc = 0.0f;
      for (int32_t p = 0; p < n_keys_end; ++p) acc += s[j * kp + p] * KvElem(a.v, p * a.v_stride + d, a.f16);
      out[j][d] = acc;
    }
  }
}

// A query of the block: head `head` of row `row`, numbered i = row * n_heads + head (the tiles walk
// this numbering, so a tile may span heads of one row and of the next).
struct QueryIndex {
  int32_t row, head;
  QueryIndex(const AttnHeadArgs& a, int32_t i) : row(i / a.n_heads), head(i % a.n_heads) {}
};

// Queries i0..i0+R) of the block. scratch: [R][kp] scores, then [R][head_dim] rounded queries.
template <int R>
void QueryTile(const AttnHeadArgs& a, int32_t i0, float* scratch) {
  const int64_t kp = RoundUpKeys(a.n_keys0 + a.n_rows - 1);
  float* s = scratch;
  float* qt = scratch + R * kp;
  float* out[R];
  for (int j = 0; j < R; ++j) {
    const QueryIndex qi(a, i0 + j);
    const float* src = a.q + qi.row * a.q_stride + qi.head * a.head_dim;
    std::copy(src, src + a.head_dim, qt + j * a.head_dim);
    out[j] = a.out + qi.row * a.out_stride + qi.head * a.head_dim;
  }
  if (a.f16) RoundToF16(qt, R * a.head_dim);
  const int32_t n_keys_end = a.n_keys0 + QueryIndex(a, i0 + R - 1).row;  // the last query's span
  Scores<R>(a, qt, n_keys_end, s, kp);
  for (int j = 0; j < R; ++j) {
    float* row = s + j * kp;
    const int32_t n_keys = a.n_keys0 + QueryIndex(a, i0 + j).row;
    SoftmaxSimd(row, n_keys);
    std::fill(row + n_keys, row + n_keys_end, 0.0f);
    if (a.f16) RoundToF16(row, n_keys);
  }
  WeightedSumAnyDim<R>(a, out, s, kp, n_keys_end);
}

void AttnHeadImpl(const AttnHeadArgs& a, float* scratch) {
  const int32_t n = a.n_rows * a.n_heads;
  int32_t i = 0;
  for (; i + kAttnQueryTile <= n; i += kAttnQueryTile) QueryTile<kAttnQueryTile>(a, i, scratch);
  switch (n - i) {
    case 1: QueryTile<1>(a, i, scratch); break;
    case 2: QueryTile<2>(a, i, scratch); break;
    case 3: QueryTile<3>(a, i, scratch); break;
    default: break;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace flotilla
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace flotilla {

HWY_EXPORT(AttnHeadImpl);

int64_t AttnHeadScratch(int32_t n_rows, int32_t n_keys0, int32_t head_dim, int32_t n_heads) {
  const int64_t queries = std::min(n_rows * n_heads, kAttnQueryTile);
  return queries * RoundUpKeys(n_keys0 + n_rows - 1) + queries * head_dim;
}

void AttnHead(const AttnHeadArgs& a, float* scratch) {
  CHECK(a.n_rows >= 1 && a.n_heads >= 1 && a.n_keys0 >= 1 && a.kt_tile_stride >= a.head_dim * kAttnKeyTile);
  HWY_DYNAMIC_DISPATCH(AttnHeadImpl)(a, scratch);
}

void PrefetchAttnHead(const AttnHeadArgs& a) {
  constexpr int64_t kMaxBytes = 32 << 10;  // per stream: all of it at short contexts
  const auto request = [](const char* p, int64_t bytes) { PrefetchLines<3>(p, static_cast<size_t>(bytes)); };
  const int64_t elem = a.f16 ? 2 : 4, n_keys = a.n_keys0 + a.n_rows - 1;
  const int64_t tile_bytes = int64_t{a.head_dim} * kAttnKeyTile * elem, row_bytes = int64_t{a.head_dim} * elem;
  const char* kt = static_cast<const char*>(a.kt);
  const char* v = static_cast<const char*>(a.v);
  // The first keys and values, where the scores and the weighted sum start...
  const int64_t n_tiles = (n_keys + kAttnKeyTile - 1) / kAttnKeyTile;
  const int64_t first_tiles = std::min(n_tiles, std::max<int64_t>(kMaxBytes / tile_bytes, 1));
  for (int64_t t = 0; t < first_tiles; ++t) request(kt + t * a.kt_tile_stride * elem, tile_bytes);
  const int64_t first_rows = std::min(n_keys, std::max<int64_t>(kMaxBytes / row_bytes, 1));
  for (int64_t p = 0; p < first_rows; ++p) request(v + p * a.v_stride * elem, row_bytes);
  // ...and, past them in a long context, the block's own keys and values, which a decoding caller
  // stores first.
  for (int64_t t = std::max(first_tiles, int64_t{a.n_keys0 - 1} / kAttnKeyTile); t < n_tiles; ++t) {
    request(kt + t * a.kt_tile_stride * elem, tile_bytes);
  }
  for (int64_t p = std::max(first_rows, int64_t{a.n_keys0 - 1}); p < n_keys; ++p) {
    request(v + p * a.v_stride * elem, row_bytes);
  }
}

void AttnHead_ref(const AttnHeadArgs& a) {
  std::vector<float> qh(static_cast<size_t>(a.head_dim)), w;
  for (int32_t j = 0; j < a.n_rows; ++j) {
    for (int32_t h = 0; h < a.n_heads; ++h) {
      const int32_t n_keys = a.n_keys0 + j;
      for (int32_t d = 0; d < a.head_dim; ++d) {
        const float x = a.q[j * a.q_stride + h * a.head_dim + d];
        qh[d] = a.f16 ? RoundF16(x) : x;
      }
      w.assign(static_cast<size_t>(n_keys), 0.0f);
      for (int32_t p = 0; p < n_keys; ++p) {
        float dot = 0.0f;
        for (int32_t d = 0; d < a.head_dim; ++d) {
          dot += qh[d] * KvElem(a.kt, KeyTileIndex(p, d, a.kt_tile_stride), a.f16);
        }
        w[p] = dot * a.scale;
      }
      Softmax(w.data(), n_keys);
      if (a.f16) {
        for (float& x : w) x = RoundF16(x);
      }
      for (int32_t d = 0; d < a.head_dim; ++d) {
        float acc = 0.0f;
        for (int32_t p = 0; p < n_keys; ++p) acc += w[p] * KvElem(a.v, p * a.v_stride + d, a.f16);
        a.out[j * a.out_stride + h * a.head_dim + d] = acc;
      }
    }
  }
}

}  // namespace flotilla
#endif  // HWY_ONCE
