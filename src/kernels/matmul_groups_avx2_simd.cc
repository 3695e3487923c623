// AVX2 kernels over Q8_0, Q4_0 and float weights interleaved in 16-row groups (kernels/repack.h),
// the layout the AVX-512 kernels read: a 256-bit vector holds one half of a 512-bit line, 4 weights
// (or 1 float element) of 8 rows, so a group is two halves of 8 rows. Each half walks the whole group
// (the second reads the lines the first brought into L1/L2) with lane r of every vector = row 8h + r:
// no horizontal sums, one scale vector per block, results stored straight into y.
//   Q4_0: vpmaddubsw of the unsigned nibbles (0..15) against 4 activations broadcast, vpmaddwd into
//     int32, the -8 folded in as -8 * sum(x) per block (exact, as the reference's integer sum).
//   Q8_0: the stored w + 128 does not fit vpmaddubsw's int16 pairs, so the products are
//     |x| x sign(w, x) (x broadcast, w back to signed), each pair within 2 * 127 * 128.
//   Floats: widened to f32, one FMA per element, row and token, x broadcast.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_groups_avx2_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include "kernels/group_tiles-inl.h"

#include <cstring>

#include "flotilla/check.h"
#include "kernels/matmul.h"
#include "kernels/matmul_groups_avx2.h"
#include "kernels/prefetch.h"
#include "kernels/repack.h"

#if HWY_TARGET == HWY_AVX2
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace flotilla {
namespace HWY_NAMESPACE {

#if HWY_TARGET == HWY_AVX2

constexpr int kIntTokenTile = 4;    // tokens sharing one decoded half-block (T + 8 weights fit 16 registers)
constexpr int kFloatTokenTile = 2;  // tokens sharing one float column: T x P accumulators
constexpr int kFloatPartials = 4;   // P: partial sums per token (element k mod P), in flight at T = 1

// y[t * ys + 8h + r] = dot(row 8h + r of the group, x_{t0 + t}) for r < 8, h < 2, t < T.
template <int T, bool kQ4>
__attribute__((noinline)) void GroupDotsAvx2(const uint8_t* group, const PackedActs& a, int64_t t0, float* y,
                                             int64_t ys) {
  const int64_t n = a.n_in, nb = n / 32;
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), bias = _mm256_set1_epi8(-128);
  const int8_t* xq = &a.q[t0 * n];
  const float* xd = &a.d[t0 * nb];
  const int32_t* xs = &a.xsum[t0 * nb];
  const size_t block_bytes = kQ4 ? sizeof(BlockQ4_0x16) : sizeof(BlockQ8_0x16);
  for (int h = 0; h < 2; ++h) {
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = group + static_cast<size_t>(b) * block_bytes;
      if (T == 1 && h == 0) PrefetchAheadNta(blk, block_bytes);
      // fp16 scales of rows 8h .. 8h+7; then w[j]: weights 4j .. 4j+3 of the block, 8 rows.
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk) + h));
      const uint8_t* q = blk + 32 + 32 * h;
      __m256i w[8];
      if constexpr (kQ4) {
        for (int j = 0; j < 4; ++j) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64 * j));
          w[j] = _mm256_and_si256(v, m4);
          w[j + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
      } else {
        for (int j = 0; j < 8; ++j) {
          w[j] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64 * j)), bias);
        }
      }
      for (int t = 0; t < T; ++t) {
        const int8_t* xb = xq + t * n + b * 32;
        __m256i s = kQ4 ? _mm256_set1_epi32(-8 * xs[t * nb + b]) : _mm256_setzero_si256();
        for (int j = 0; j < 8; ++j) {
          int32_t x4;
          std::memcpy(&x4, xb + 4 * j, 4);
          const __m256i x = _mm256_set1_epi32(x4);
          const __m256i p = kQ4 ? _mm256_maddubs_epi16(w[j], x)
                                : _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(w[j], x));
          s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
        }
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(xd[t * nb + b])), acc[t]);
      }
    }
    for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * ys + 8 * h, acc[t]);
  }
}

// Element k of rows 8h .. 8h+7 of an interleaved float group (w[k][16] of kType) as f32.
template <DType kType>
HWY_INLINE __m256 LoadHalfColumn(const uint8_t* group, int64_t k, int h) {
  if constexpr (kType == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(group) + k * 16 + 8 * h);
  } else {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(group + k * 32 + 16 * h));
    if constexpr (kType == DType::kF16) return _mm256_cvtph_ps(v);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));  // BF16: the high half of f32
  }
}

// The same for float weights; P partial sums per token, whatever T, so a token's result does not
// depend on the tile it ran in (batched sequences equal sequences run alone).
template <int T, DType kType>
__attribute__((noinline)) void GroupDotsFloatAvx2(const uint8_t* group, const PackedActs& a, int64_t t0, float* y,
                                                  int64_t ys) {
  constexpr int P = kFloatPartials;
  const int64_t n = a.n_in;
  const float* x = &a.f[t0 * n];
  for (int h = 0; h < 2; ++h) {
    __m256 acc[T][P];
    for (int t = 0; t < T; ++t) {
      for (int p = 0; p < P; ++p) acc[t][p] = _mm256_setzero_ps();
    }
    int64_t k = 0;
    for (; k + P <= n; k += P) {
      for (int p = 0; p < P; ++p) {
        const __m256 w = LoadHalfColumn<kType>(group, k + p, h);
        for (int t = 0; t < T; ++t) acc[t][p] = _mm256_fmadd_ps(w, _mm256_set1_ps(x[t * n + k + p]), acc[t][p]);
      }
    }
    for (; k < n; ++k) {
      const __m256 w = LoadHalfColumn<kType>(group, k, h);
      for (int t = 0; t < T; ++t) acc[t][0] = _mm256_fmadd_ps(w, _mm256_set1_ps(x[t * n + k]), acc[t][0]);
    }
    for (int t = 0; t < T; ++t) {
      const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3]));
      _mm256_storeu_ps(y + t * ys + 8 * h, sum);
    }
  }
}

// The kernels above for MatMulGroupsByType (group_tiles-inl.h).
struct GroupKernelsAvx2 {
  static constexpr int kIntTile = kIntTokenTile, kFloatTile = kFloatTokenTile;
  template <int T, bool kQ4>
  static void Ints(const uint8_t* group, const PackedActs& a, int64_t t0, float* y, int64_t ys) {
    GroupDotsAvx2<T, kQ4>(group, a, t0, y, ys);
  }
  template <int T, DType kType>
  static void Floats(const uint8_t* group, const PackedActs& a, int64_t t0, float* y, int64_t ys) {
    GroupDotsFloatAvx2<T, kType>(group, a, t0, y, ys);
  }
};

void MatMulGroupsAvx2Impl(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1) {
  CHECK(w.rows16 != nullptr);
  MatMulGroupsByType<GroupKernelsAvx2>(w, a, y, g0, g1);
}

#else
// Other instruction sets never call this (kernels/matmul_groups_avx2.h).
void MatMulGroupsAvx2Impl(const TensorView&, const PackedActs&, float*, int64_t, int64_t) { CHECK(false); }
#endif  // HWY_TARGET == HWY_AVX2

}  // namespace HWY_NAMESPACE
}  // namespace flotilla
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace flotilla {

HWY_EXPORT(MatMulGroupsAvx2Impl);

void MatMulGroupsAvx2(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1) {
  HWY_DYNAMIC_DISPATCH(MatMulGroupsAvx2Impl)(w, a, y, g0, g1);
}

}  // namespace flotilla
#endif  // HWY_ONCE
