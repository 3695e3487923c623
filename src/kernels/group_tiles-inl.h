// The walk over 16-row interleaved groups and token tiles that every interleaved matmul kernel
// shares (kernels/repack.h). Per-target code: include it inside a Highway target region, after
// <hwy/highway.h> (Highway's -inl.h include-guard pattern).
#if defined(FLOTILLA_KERNELS_GROUP_TILES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FLOTILLA_KERNELS_GROUP_TILES_INL_H_
#undef FLOTILLA_KERNELS_GROUP_TILES_INL_H_
#else
#define FLOTILLA_KERNELS_GROUP_TILES_INL_H_
#endif

#include <type_traits>

#include "flotilla/check.h"
#include "kernels/matmul.h"
#include "kernels/repack.h"

HWY_BEFORE_NAMESPACE();
namespace flotilla {
namespace HWY_NAMESPACE {

// Calls dots(std::integral_constant<int, T>, group, t0, y_tile) for groups [g0, g1) of w.rows16 and
// tiles of T = kTile tokens (then one tile of the 1..kTile-1 left), where y_tile = &y[t0, 16 g] of
// y: [a.n_tokens, w.n_rows()] and the kernel writes rows 16g .. 16g+15 of tokens t0 .. t0+T-1.
template <int kTile, class Dots>
inline void ForEachGroupTile(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1,
                             const Dots& dots) {
  const int64_t n_out = w.n_rows(), nt = a.n_tokens;
  const size_t group_bytes = InterleavedGroupBytes(w.dtype, w.row_len());
  for (int64_t g = g0; g < g1; ++g) {
    const uint8_t* group = w.rows16 + static_cast<size_t>(g) * group_bytes;
    float* yg = y + g * kInterleaveRows;
    int64_t t = 0;
    for (; t + kTile <= nt; t += kTile) dots(std::integral_constant<int, kTile>{}, group, t, yg + t * n_out);
    const int64_t rest = nt - t;
    if (rest == 0) continue;
    [&]<int... R>(std::integer_sequence<int, R...>) {  // the tile of `rest` tokens
      ((rest == R + 1 ? dots(std::integral_constant<int, R + 1>{}, group, t, yg + t * n_out) : void()), ...);
    }(std::make_integer_sequence<int, kTile - 1>{});
  }
}

// Groups [g0, g1) of w.rows16 and every token for weights of kType: Q8_0 and Q4_0 by
// K::Ints<T, kQ4>(group, a, t0, y_tile, ys) in tiles of K::kIntTile tokens, F32, F16 and BF16 by
// K::Floats<T, kType>(...) in tiles of K::kFloatTile; ys = w.n_rows() is y's row stride.
template <class K, DType kType>
inline void MatMulGroupTiles(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1) {
  constexpr bool kInt = kType == DType::kQ8_0 || kType == DType::kQ4_0;
  constexpr int kTile = [] {
    if constexpr (kInt) return K::kIntTile;
    else return K::kFloatTile;
  }();
  const int64_t ys = w.n_rows();
  ForEachGroupTile<kTile>(w, a, y, g0, g1, [&](auto tile, const uint8_t* group, int64_t t0, float* yt) {
    if constexpr (kInt) K::template Ints<decltype(tile)::value, kType == DType::kQ4_0>(group, a, t0, yt, ys);
    else K::template Floats<decltype(tile)::value, kType>(group, a, t0, yt, ys);
  });
}

// Q8_0 and Q4_0 weights by the kernels of K (MatMulGroupTiles).
template <class K>
inline void MatMulIntGroups(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1) {
  switch (w.dtype) {
    case DType::kQ8_0: return MatMulGroupTiles<K, DType::kQ8_0>(w, a, y, g0, g1);
    case DType::kQ4_0: return MatMulGroupTiles<K, DType::kQ4_0>(w, a, y, g0, g1);
    default: CHECK(false);
  }
}

// F32, F16 and BF16 weights by the kernels of K (MatMulGroupTiles).
template <class K>
inline void MatMulFloatGroups(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1) {
  switch (w.dtype) {
    case DType::kF32: return MatMulGroupTiles<K, DType::kF32>(w, a, y, g0, g1);
    case DType::kF16: return MatMulGroupTiles<K, DType::kF16>(w, a, y, g0, g1);
    case DType::kBF16: return MatMulGroupTiles<K, DType::kBF16>(w, a, y, g0, g1);
    default: CHECK(false);
  }
}

// Both: Q8_0, Q4_0, F32, F16 and BF16 weights by the kernels of K.
template <class K>
inline void MatMulGroupsByType(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1) {
  if (w.dtype == DType::kQ8_0 || w.dtype == DType::kQ4_0) return MatMulIntGroups<K>(w, a, y, g0, g1);
  MatMulFloatGroups<K>(w, a, y, g0, g1);
}

}  // namespace HWY_NAMESPACE
}  // namespace flotilla
HWY_AFTER_NAMESPACE();

#endif  // include guard
