// AVX-512 VNNI kernels over Q4_K and Q6_K weights interleaved in 16-row groups (kernels/repack.h),
// against Q8_K activations. Lane r of every 512-bit vector is row r of the group: one vpdpbusd adds 4
// unsigned weights x 4 int8 activations (broadcast to all lanes) to 16 rows' int32 sums, the
// sub-block scales of the 16 rows are one vector, and the 16 results store straight into y.
// Per super-block of 256 and token the integer sum is exact (as in the reference's integer form),
// then scaled in float:
//   Q4_K: acc += d * xd * sum_j sc_j * dot_j(q, x) - dmin * xd * sum_j mn_j * (bsum_2j + bsum_2j+1)
//   Q6_K: acc += d * xd * sum_i sc_i * (dot_i(q, x) - 32 * bsum_i)   (q stored unsigned 0..63)
// The min and offset terms are vpdpwssd of int16 pairs against pairs of x's sub-block sums. Bit fields
// move within bytes by gf2p8affineqb (one instruction for shift + mask). Decoding is shared by a tile of
// up to 8 tokens; at one token the kernels stream weights from memory at about the read bandwidth.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_kquant_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include "kernels/group_tiles-inl.h"

#include <cstring>

#include "flotilla/check.h"
#include "kernels/matmul.h"
#include "kernels/matmul_kquant.h"
#include "kernels/prefetch.h"
#include "kernels/repack.h"
#include "tensor/quant_blocks.h"

#if HWY_TARGET == HWY_AVX3_DL
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace flotilla {
namespace HWY_NAMESPACE {

#if HWY_TARGET == HWY_AVX3_DL
// Highway 1.0's AVX3_DL attribute names VEX avxvnni; we want the EVEX forms, so name the features here.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,gfni,avx2,fma,f16c,bmi2,no-avxvnni")

constexpr int kKTokenTile = 8;  // tokens sharing one decoded sub-block

// Bit matrices for gf2p8affineqb, which sets bit i of each byte to the parity of (byte 7 - i of the
// matrix) & (the byte): one instruction moves bit fields within bytes and clears the rest.
constexpr int64_t kHighNibbleDown = 0x1020408000000000;  // bits 4..7 -> 0..3
constexpr int64_t PairTo45(int i) {  // bits 2i, 2i + 1 -> 4, 5
  return (int64_t{1} << (2 * i)) << 24 | (int64_t{1} << (2 * i + 1)) << 16;
}

// The 4 bytes (or 2 int16) at p broadcast to all 16 lanes.
template <typename V>
inline __m512i Broadcast4(const V* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Lane r of the result: the dot product of lanes r of w[0..3] with x[0..3], x[4..7], .., x[12..15]
// (weights 4i .. 4i+3 of row r against activations 4i .. 4i+3).
inline __m512i Dot16(const __m512i* w, const int8_t* x) {
  __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[0], Broadcast4(x));
  for (int i = 1; i < 4; ++i) s = _mm512_dpbusd_epi32(s, w[i], Broadcast4(x + 4 * i));
  return s;
}

// y[t * ys + r] = dot(row r of the Q4_K group, x_{t0 + t}) for r < 16, t < T.
template <int T>
__attribute__((noinline)) void Q4KGroupDots(const uint8_t* group, const PackedActs& a, int64_t t0, float* y,
                                            int64_t ys) {
  const int64_t nb = a.n_in / kQK_K;
  const __m512i m4 = _mm512_set1_epi8(0x0F), high = _mm512_set1_epi64(kHighNibbleDown);
  const BlockQ8_K* xk = &a.k[t0 * nb];
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const auto* blk = reinterpret_cast<const BlockQ4_Kx16*>(group) + b;
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->d)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->dmin)));
    // Mins first: lane r of mp[p] holds the int16 pair (mn_2p, mn_2p+1) of row r, against the pair
    // of x's sums over sub-blocks 2p and 2p + 1.
    __m512i mp[4];
    for (int p = 0; p < 4; ++p) {
      mp[p] = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->mn[p])));
    }
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K& x = xk[t * nb + b];
      alignas(16) int16_t xs[8];  // x's sums over the 8 sub-blocks of 32
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums));
      const __m256i sums32 = _mm256_madd_epi16(bs, _mm256_set1_epi16(1));
      _mm_store_si128(reinterpret_cast<__m128i*>(xs), _mm256_cvtepi32_epi16(sums32));
      const __m512i m0 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), mp[0], Broadcast4(xs));
      const __m512i m1 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), mp[1], Broadcast4(xs + 2));
      const __m512i msum = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(m0, mp[2], Broadcast4(xs + 4)), mp[3],
                                               Broadcast4(xs + 6));
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(msum, m1)),
                                _mm512_mul_ps(dmin, _mm512_set1_ps(x.d)), acc[t]);
    }
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      if (T == 1) PrefetchPartAhead(blk, j);
      __m512i w[8];  // w[i]: weights 4i .. 4i+3 of sub-block j (w[4 + i]: 16 + 4i ..), 16 rows
      for (int i = 0; i < 4; ++i) {
        const __m512i v = _mm512_loadu_si512(blk->q[j][i]);
        w[i] = _mm512_and_si512(v, m4);
        w[4 + i] = _mm512_gf2p8affine_epi64_epi8(v, high, 0);
      }
      const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->sc[j])));
      for (int t = 0; t < T; ++t) {
        const int8_t* xq = xk[t * nb + b].qs + 32 * j;
        const __m512i s = _mm512_add_epi32(Dot16(w, xq), Dot16(w + 4, xq + 16));
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s, sc));
      }
    }
    for (int t = 0; t < T; ++t) {
      const __m512 scale = _mm512_mul_ps(d, _mm512_set1_ps(xk[t * nb + b].d));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), scale, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ys, acc[t]);
}

// y[t * ys + r] = dot(row r of the Q6_K group, x_{t0 + t}) for r < 16, t < T.
template <int T>
__attribute__((noinline)) void Q6KGroupDots(const uint8_t* group, const PackedActs& a, int64_t t0, float* y,
                                            int64_t ys) {
  const int64_t nb = a.n_in / kQK_K;
  const __m512i m4 = _mm512_set1_epi8(0x0F), high = _mm512_set1_epi64(kHighNibbleDown);
  const __m512i to45[4] = {_mm512_set1_epi64(PairTo45(0)), _mm512_set1_epi64(PairTo45(1)),
                           _mm512_set1_epi64(PairTo45(2)), _mm512_set1_epi64(PairTo45(3))};
  const BlockQ8_K* xk = &a.k[t0 * nb];
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const auto* blk = reinterpret_cast<const BlockQ6_Kx16*>(group) + b;
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->d)));
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      // w[i]: weights 4i .. 4i+3 of sub-block 2j, w[4 + i] the same of sub-block 2j + 1; the high
      // 2 bits of vector (i, c) are bits 2i, 2i+1 of qh[j][c], moved to bits 4, 5.
      if (T == 1) PrefetchPartAhead(blk, j);
      const __m512i h0 = _mm512_loadu_si512(blk->qh[j][0]), h1 = _mm512_loadu_si512(blk->qh[j][1]);
      __m512i w[8];
      for (int i = 0; i < 4; ++i) {
        const __m512i v = _mm512_loadu_si512(blk->ql[j][i]);
        // (v & 0x0F) | high bits: ternary-logic 0xEA is A & B | C.
        w[i] = _mm512_ternarylogic_epi32(v, m4, _mm512_gf2p8affine_epi64_epi8(h0, to45[i], 0), 0xEA);
        w[4 + i] = _mm512_or_si512(_mm512_gf2p8affine_epi64_epi8(v, high, 0),
                                   _mm512_gf2p8affine_epi64_epi8(h1, to45[i], 0));
      }
      // Lane r: the int16 pair (sc_2j, sc_2j+1) of row r; split into int32 lanes, and times -32 for
      // the offset against the pair (bsum_2j, bsum_2j+1).
      const __m512i pair = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->sc[j])));
      const __m512i sc0 = _mm512_srai_epi32(_mm512_slli_epi32(pair, 16), 16), sc1 = _mm512_srai_epi32(pair, 16);
      const __m512i off = _mm512_mullo_epi16(pair, _mm512_set1_epi16(-32));
      for (int t = 0; t < T; ++t) {
        const BlockQ8_K& x = xk[t * nb + b];
        const int8_t* xq = x.qs + 32 * j;
        const __m512i s = _mm512_add_epi32(_mm512_mullo_epi32(Dot16(w, xq), sc0),
                                           _mm512_mullo_epi32(Dot16(w + 4, xq + 16), sc1));
        isum[t] = _mm512_add_epi32(isum[t], _mm512_dpwssd_epi32(s, off, Broadcast4(x.bsums + 2 * j)));
      }
    }
    for (int t = 0; t < T; ++t) {
      const __m512 scale = _mm512_mul_ps(d, _mm512_set1_ps(xk[t * nb + b].d));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), scale, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ys, acc[t]);
}

template <int T>
HWY_INLINE void KGroupDots(DType type, const uint8_t* group, const PackedActs& a, int64_t t0, float* y,
                           int64_t ys) {
  if (type == DType::kQ4_K) return Q4KGroupDots<T>(group, a, t0, y, ys);
  return Q6KGroupDots<T>(group, a, t0, y, ys);
}

void MatMulGroupsKQuantImpl(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1) {
  CHECK((w.dtype == DType::kQ4_K || w.dtype == DType::kQ6_K) && w.rows16 != nullptr);
  ForEachGroupTile<kKTokenTile>(w, a, y, g0, g1, [&](auto tile, const uint8_t* group, int64_t t0, float* yt) {
    KGroupDots<decltype(tile)::value>(w.dtype, group, a, t0, yt, w.n_rows());
  });
}

#pragma GCC pop_options
#else
// Other instruction sets have no kernels for the interleaved layout: their MatMulRowsImpl reads the
// file layout and never calls this (see kernels/matmul_kquant.h).
void MatMulGroupsKQuantImpl(const TensorView&, const PackedActs&, float*, int64_t, int64_t) {
  CHECK(false);
}
#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace HWY_NAMESPACE
}  // namespace flotilla
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace flotilla {

HWY_EXPORT(MatMulGroupsKQuantImpl);

void MatMulGroupsKQuant(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1) {
  HWY_DYNAMIC_DISPATCH(MatMulGroupsKQuantImpl)(w, a, y, g0, g1);
}

}  // namespace flotilla
#endif  // HWY_ONCE
