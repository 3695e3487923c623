// Highway matrix-product kernels, compiled once per instruction set and chosen at run time.
//
// Two families:
// - Row by row (every target; the file layout): for one weight row and a tile of T <= 4 tokens,
//   out[t] = dot(w_row, x_t), decoding the row once per tile. Float weights widen to f32 and FMA
//   against pre-rounded activations; quantized weights take integer dot products per block with the
//   8-bit activations of PackedActs, then scale in float as llama.cpp does (generic targets: int8
//   widened to int16, multiply-add pairs; AVX2 and AVX3_DL: u8 x s8 products of 256-bit vectors with
//   |w| x sign(x, w), vpmaddubsw + vpmaddwd on AVX2, vpdpbusd on AVX3_DL).
// - Interleaved 16-row groups (AVX3_DL, 512-bit; TensorView::rows16, layouts in kernels/repack.h): lane
//   r of every vector is row r, so results need no horizontal sums; Q8_0/Q4_0 and float here, the
//   K-quants in matmul_kquant_simd.cc. Whole groups take this path, rows of partial groups the first.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include "kernels/group_tiles-inl.h"

#include <algorithm>
#include <cstring>

#include "flotilla/check.h"
#include "kernels/matmul.h"
#include "kernels/matmul_groups_avx2.h"
#include "kernels/matmul_kquant.h"
#include "kernels/prefetch.h"
#include "kernels/repack.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
#include <immintrin.h>
#endif

// Plain scalar helpers, outside the target regions so every target can inline them.
#ifndef FLOTILLA_KERNELS_MATMUL_SIMD_ONCE_
#define FLOTILLA_KERNELS_MATMUL_SIMD_ONCE_
namespace flotilla {
// Scale and min of sub-block j (0..7) of a Q4_K block (the 6-bit packing of tensor/quant_k_fit.h).
inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace flotilla
#endif

HWY_BEFORE_NAMESPACE();
namespace flotilla {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int kTokenTile = 4;   // tokens sharing one decoded weight row
constexpr int64_t kRowBlock = 16;  // rows kept hot in L1 while token tiles stream past
constexpr int kGroupTokenTile = 8;  // tokens sharing one decoded interleaved block
constexpr int kFloatTokenTile = 4;  // tokens sharing one interleaved float column (GroupDotsFloat)

// ---- Float weights.

struct LoadF32 {
  const float* w;
  template <class D> HWY_INLINE hn::Vec<D> operator()(D d, int64_t i) const { return hn::LoadU(d, w + i); }
  float Scalar(int64_t i) const { return w[i]; }
};

struct LoadF16 {
  const uint16_t* w;
  template <class D> HWY_INLINE hn::Vec<D> operator()(D d, int64_t i) const {
    const hn::Rebind<hwy::float16_t, D> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(w + i)));
  }
  float Scalar(int64_t i) const { return FP16ToFP32(w[i]); }
};

struct LoadBF16 {
  const uint16_t* w;
  template <class D> HWY_INLINE hn::Vec<D> operator()(D d, int64_t i) const {
    const hn::RebindToUnsigned<D> du32;
    const hn::Rebind<uint16_t, D> du16;
    const auto wide = hn::PromoteTo(du32, hn::LoadU(du16, w + i));
    return hn::BitCast(d, hn::ShiftLeft<16>(wide));
  }
  float Scalar(int64_t i) const { return BF16ToFP32(w[i]); }
};

// out[t] = sum_i w[i] * x[t * xs + i], t < T; two accumulator sets hide FMA latency.
template <int T, class WL>
HWY_INLINE void FloatDots(const WL& wl, const float* HWY_RESTRICT x, int64_t xs, int64_t n, float* out) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  V a0[T], a1[T];
  for (int t = 0; t < T; ++t) a0[t] = a1[t] = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const V w0 = wl(df, i), w1 = wl(df, i + N);
    for (int t = 0; t < T; ++t) {
      a0[t] = hn::MulAdd(w0, hn::LoadU(df, x + t * xs + i), a0[t]);
      a1[t] = hn::MulAdd(w1, hn::LoadU(df, x + t * xs + i + N), a1[t]);
    }
  }
  for (; i + N <= n; i += N) {
    const V w0 = wl(df, i);
    for (int t = 0; t < T; ++t) a0[t] = hn::MulAdd(w0, hn::LoadU(df, x + t * xs + i), a0[t]);
  }
  for (int t = 0; t < T; ++t) out[t] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a0[t], a1[t])));
  for (; i < n; ++i) {
    const float w = wl.Scalar(i);
    for (int t = 0; t < T; ++t) out[t] += w * x[t * xs + i];
  }
}

// ---- Generic integer dots (every target).

// sum_i a[i] * b[i] over n int8 values, n a multiple of 16.
HWY_INLINE int32_t DotI8(const int8_t* HWY_RESTRICT a, const int8_t* HWY_RESTRICT b, int n) {
#if HWY_TARGET == HWY_SCALAR
  int32_t s = 0;
  for (int i = 0; i < n; ++i) s += int32_t{a[i]} * b[i];
  return s;
#else
  const hn::CappedTag<int16_t, 16> d16;
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  auto s0 = hn::Zero(d32), s1 = hn::Zero(d32);
  for (int i = 0; i < n; i += static_cast<int>(hn::Lanes(d16))) {
    const auto va = hn::PromoteTo(d16, hn::LoadU(d8, a + i));
    const auto vb = hn::PromoteTo(d16, hn::LoadU(d8, b + i));
    s0 = hn::ReorderWidenMulAccumulate(d32, va, vb, s0, s1);
  }
  return hn::GetLane(hn::SumOfLanes(d32, hn::Add(s0, s1)));
#endif
}

// Q8_0 (kQ4 = false) or Q4_0 (kQ4 = true) row against tokens t0..t0+T-1.
template <int T, bool kQ4>
HWY_NOINLINE void LegacyDotsGeneric(const uint8_t* wrow, const PackedActs& a, int64_t t0, float* out) {
  const int64_t n = a.n_in, nb = n / 32;
  float acc[T] = {};
  HWY_ALIGN int8_t wq[32];
  for (int64_t b = 0; b < nb; ++b) {
    float dw;
    if constexpr (kQ4) {
      const auto* blk = reinterpret_cast<const BlockQ4_0*>(wrow) + b;
      dw = FP16ToFP32(blk->d);
      for (int j = 0; j < 16; ++j) {
        wq[j] = static_cast<int8_t>((blk->qs[j] & 15) - 8);
        wq[j + 16] = static_cast<int8_t>((blk->qs[j] >> 4) - 8);
      }
    } else {
      const auto* blk = reinterpret_cast<const BlockQ8_0*>(wrow) + b;
      dw = FP16ToFP32(blk->d);
      std::memcpy(wq, blk->qs, 32);
    }
    for (int t = 0; t < T; ++t) {
      const int64_t tok = t0 + t;
      const int32_t s = DotI8(wq, &a.q[tok * n + b * 32], 32);
      acc[t] += (dw * a.d[tok * nb + b]) * static_cast<float>(s);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = acc[t];
}

// Q4_K row: x = d * sc * q - dmin * m per sub-block of 32.
template <int T>
HWY_NOINLINE void Q4KDotsGeneric(const uint8_t* wrow, const PackedActs& a, int64_t t0, float* out) {
  const int64_t nb = a.n_in / kQK_K;
  float acc[T] = {};
  HWY_ALIGN int8_t q[kQK_K];
  for (int64_t b = 0; b < nb; ++b) {
    const auto* blk = reinterpret_cast<const BlockQ4_K*>(wrow) + b;
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) ScaleMinK4(j, blk->scales, &sc[j], &mn[j]);
    for (int p = 0; p < 4; ++p) {
      for (int l = 0; l < 32; ++l) {
        q[64 * p + l] = static_cast<int8_t>(blk->qs[32 * p + l] & 15);
        q[64 * p + 32 + l] = static_cast<int8_t>(blk->qs[32 * p + l] >> 4);
      }
    }
    const float d = FP16ToFP32(blk->d), dmin = FP16ToFP32(blk->dmin);
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K& x = a.k[(t0 + t) * nb + b];
      int32_t sum = 0, msum = 0;
      for (int j = 0; j < 8; ++j) {
        sum += sc[j] * DotI8(q + 32 * j, x.qs + 32 * j, 32);
        msum += mn[j] * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
      }
      acc[t] += d * x.d * static_cast<float>(sum) - dmin * x.d * static_cast<float>(msum);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = acc[t];
}

// Q6_K row: x = d * sc * (q - 32) per sub-block of 16.
template <int T>
HWY_NOINLINE void Q6KDotsGeneric(const uint8_t* wrow, const PackedActs& a, int64_t t0, float* out) {
  const int64_t nb = a.n_in / kQK_K;
  float acc[T] = {};
  HWY_ALIGN int8_t q[kQK_K];
  for (int64_t b = 0; b < nb; ++b) {
    const auto* blk = reinterpret_cast<const BlockQ6_K*>(wrow) + b;
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; ++l) {
        const int qa = blk->ql[64 * h + l], qb = blk->ql[64 * h + 32 + l], c = blk->qh[32 * h + l];
        q[128 * h + l] = static_cast<int8_t>(((qa & 15) | ((c & 3) << 4)) - 32);
        q[128 * h + 32 + l] = static_cast<int8_t>(((qb & 15) | ((c >> 2 & 3) << 4)) - 32);
        q[128 * h + 64 + l] = static_cast<int8_t>(((qa >> 4) | ((c >> 4 & 3) << 4)) - 32);
        q[128 * h + 96 + l] = static_cast<int8_t>(((qb >> 4) | ((c >> 6 & 3) << 4)) - 32);
      }
    }
    const float d = FP16ToFP32(blk->d);
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K& x = a.k[(t0 + t) * nb + b];
      int32_t sum = 0;
      for (int i = 0; i < 16; ++i) sum += blk->scales[i] * DotI8(q + 16 * i, x.qs + 16 * i, 16);
      acc[t] += d * x.d * static_cast<float>(sum);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = acc[t];
}

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
// ---- x86 row kernels on 256-bit vectors, integer products of u8 x s8 (DotU8S8): AVX-512 VNNI (the same
// MACs per cycle as 512-bit on AMD Zen 4, and 32 registers) or AVX2 (madd pairs, as llama.cpp does).
#if HWY_TARGET == HWY_AVX3_DL
// Highway 1.0's AVX3_DL attribute names VEX avxvnni; we want the EVEX form, so name the features here.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx2,fma,f16c,bmi2,no-avxvnni")
#endif

// Lane i: sum_{j < 4} u[4i + j] * s[4i + j], u unsigned and s signed bytes. On AVX2 adjacent pairs are
// summed in int16 first, which saturates past 32767: every caller keeps |u| <= 128 and |s| <= 127
// (Q8_0/Q4_0: |w| and x of -127..127; K-quants: q <= 63), so a pair stays within 2 * 128 * 127.
HWY_INLINE __m256i DotU8S8(__m256i u, __m256i s) {
#if HWY_TARGET == HWY_AVX3_DL
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

inline float HsumPs(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Q8_0 (kQ4 = false) or Q4_0 (kQ4 = true) row against tokens t0..t0+T-1. Even and odd blocks add into
// separate sums, so two float chains are in flight (one chain held decode to one block per FMA latency).
template <int T, bool kQ4>
__attribute__((noinline)) void LegacyDotsX86(const uint8_t* wrow, const PackedActs& a, int64_t t0, float* out) {
  const int64_t n = a.n_in, nb = n / 32;
  constexpr int64_t kBlockBytes = kQ4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  const __m256i m4 = _mm256_set1_epi8(0x0F), m8 = _mm256_set1_epi8(8);
  __m256 acc[2][T];
  for (int t = 0; t < T; ++t) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
  const int8_t* xq = &a.q[t0 * n];
  const float* xd = &a.d[t0 * nb];
  const auto block = [&](int64_t b, __m256* sums) {
    float dw;
    __m256i ws;  // signed weights; the products are |w| x sign(x, w), as llama.cpp forms them
    if constexpr (kQ4) {
      const auto* blk = reinterpret_cast<const BlockQ4_0*>(wrow) + b;
      dw = _cvtsh_ss(blk->d);
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
      const __m256i qq = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
      ws = _mm256_sub_epi8(_mm256_and_si256(qq, m4), m8);  // q - 8 in -8..7
    } else {
      const auto* blk = reinterpret_cast<const BlockQ8_0*>(wrow) + b;
      dw = _cvtsh_ss(blk->d);
      ws = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
    }
    const __m256i wu = _mm256_abs_epi8(ws);
    for (int t = 0; t < T; ++t) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + t * n + b * 32));
      const __m256i s = DotU8S8(wu, _mm256_sign_epi8(x, ws));
      sums[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xd[t * nb + b]), _mm256_cvtepi32_ps(s), sums[t]);
    }
  };
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    if (T == 1) PrefetchAheadNta(wrow + b * kBlockBytes, 2 * kBlockBytes);
    block(b, acc[0]);
    block(b + 1, acc[1]);
  }
  if (b < nb) block(b, acc[0]);
  for (int t = 0; t < T; ++t) out[t] = HsumPs(_mm256_add_ps(acc[0][t], acc[1][t]));
}

// Q4_K row: x = d * sc * q - dmin * m per sub-block of 32. The integer sums of a block are exact
// (int16 pairs of q x x stay within 2 * 15 * 127) and add to a token's float sums once per block.
template <int T>
__attribute__((noinline)) void Q4KDotsX86(const uint8_t* wrow, const PackedActs& a, int64_t t0, float* out) {
  const int64_t nb = a.n_in / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[T];   // d * xd * sum_j sc_j * dot_j, per lane
  __m128 macc[T];  // dmin * xd * sum_j m_j * (sum of x over sub-block j), per lane
  for (int t = 0; t < T; ++t) {
    acc[t] = _mm256_setzero_ps();
    macc[t] = _mm_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const auto* blk = reinterpret_cast<const BlockQ4_K*>(wrow) + b;
    // The 6-bit scales and mins of ScaleMinK4, four at a time: bytes 0-7 of sm are sc[0..7], 8-15 m[0..7].
    uint32_t u[3];
    std::memcpy(u, blk->scales, sizeof(u));
    const uint32_t sc_lo = u[0] & 0x3F3F3F3F, mn_lo = u[1] & 0x3F3F3F3F;
    const uint32_t sc_hi = (u[2] & 0x0F0F0F0F) | ((u[0] >> 6 & 0x03030303) << 4);
    const uint32_t mn_hi = (u[2] >> 4 & 0x0F0F0F0F) | ((u[1] >> 6 & 0x03030303) << 4);
    const __m128i sm = _mm_set_epi32(static_cast<int32_t>(mn_hi), static_cast<int32_t>(mn_lo),
                                     static_cast<int32_t>(sc_hi), static_cast<int32_t>(sc_lo));
    const __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));  // sc[0..7] as int16, twice
    const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));              // m[0..7] as int16
    __m256i q[8];
    for (int p = 0; p < 4; ++p) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 32 * p));
      q[2 * p] = _mm256_and_si256(v, m4);
      q[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
    const float d = _cvtsh_ss(blk->d), dmin = _cvtsh_ss(blk->dmin);
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K& x = a.k[(t0 + t) * nb + b];
      __m256i sum = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        const __m256i sc = _mm256_shuffle_epi8(scales, _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * j)));
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * j));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(q[j], xv), sc));
      }
      // m[j] times the sum of x over sub-block j (two bsums of 16).
      const __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums)),
                                           _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums + 8)));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * x.d), _mm256_cvtepi32_ps(sum), acc[t]);
      macc[t] = _mm_fmadd_ps(_mm_set1_ps(dmin * x.d), _mm_cvtepi32_ps(_mm_madd_epi16(pairs, mins)), macc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = HsumPs(_mm256_sub_ps(acc[t], _mm256_zextps128_ps256(macc[t])));
}

// Q6_K row: x = d * sc * (q - 32) per sub-block of 16; q unsigned (0..63) in the products, the offset
// from the bsums. Int16 pairs of q x x stay within 2 * 63 * 127.
template <int T>
__attribute__((noinline)) void Q6KDotsX86(const uint8_t* wrow, const PackedActs& a, int64_t t0, float* out) {
  const int64_t nb = a.n_in / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const auto* blk = reinterpret_cast<const BlockQ6_K*>(wrow) + b;
    __m256i q[8];
    for (int h = 0; h < 2; ++h) {
      const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->ql + 64 * h));
      const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->ql + 64 * h + 32));
      const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh + 32 * h));
      const auto hi = [&](int shift) {
        return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(c, shift), m2), 4);
      };
      q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(qa, m4), hi(0));
      q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(qb, m4), hi(2));
      q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), hi(4));
      q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), hi(6));
    }
    const __m128i s8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->scales));
    const __m256i sc16 = _mm256_cvtepi8_epi16(s8);
    const float d = _cvtsh_ss(blk->d);
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K& x = a.k[(t0 + t) * nb + b];
      // sum_i sc[i] * bsum[i] * 32: the q - 32 offset.
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums));
      __m256i sum = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5));
      for (int g = 0; g < 8; ++g) {
        // int16 lanes 0-7: sc[2g] (the first 16 bytes of the 32), lanes 8-15: sc[2g + 1].
        const __m128i pick = _mm_set_epi64x(0x0101010101010101LL * (2 * g + 1), 0x0101010101010101LL * (2 * g));
        const __m256i sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s8, pick));
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * g));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], xv), sc));
      }
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * x.d), _mm256_cvtepi32_ps(sum), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = HsumPs(acc[t]);
}

#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC pop_options
#endif
#endif  // HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2

#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx2,fma,f16c,bmi2,no-avxvnni")

// ---- Interleaved 16-row groups (kernels/repack.h), 512-bit: lane r of every vector is row r.

// y[t * ys + r] = dot(row r of the group, x_{t0 + t}) for r < 16, t < T. Per block and token the
// integer sums start at -offset * sum(x) (weights are stored unsigned: w + 128 for Q8_0, the raw
// nibble q = w + 8 for Q4_0), so they equal the reference's sum(w * x) exactly.
template <int T, bool kQ4>
__attribute__((noinline)) void GroupDotsVnni(const uint8_t* group, const PackedActs& a, int64_t t0, float* y,
                                             int64_t ys) {
  const int64_t n = a.n_in, nb = n / 32;
  constexpr int32_t kOffset = kQ4 ? 8 : 128;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const int8_t* xq = &a.q[t0 * n];
  const float* xd = &a.d[t0 * nb];
  const int32_t* xs = &a.xsum[t0 * nb];
  for (int64_t b = 0; b < nb; ++b) {
    __m512i w[8];  // w[j]: weights 4j .. 4j+3 of the block, 16 rows
    __m512 dw;
    if constexpr (kQ4) {
      const auto* blk = reinterpret_cast<const BlockQ4_0x16*>(group) + b;
      if (T == 1) PrefetchAheadNta(blk, sizeof(*blk));
      dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->d)));
      for (int j = 0; j < 4; ++j) {
        const __m512i v = _mm512_loadu_si512(blk->q[j]);
        w[j] = _mm512_and_si512(v, m4);
        w[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      }
    } else {
      const auto* blk = reinterpret_cast<const BlockQ8_0x16*>(group) + b;
      if (T == 1) PrefetchAheadNta(blk, sizeof(*blk));
      dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->d)));
      for (int j = 0; j < 8; ++j) w[j] = _mm512_loadu_si512(blk->q[j]);
    }
    for (int t = 0; t < T; ++t) {
      const int8_t* xb = xq + t * n + b * 32;
      __m512i s0 = _mm512_set1_epi32(-kOffset * xs[t * nb + b]), s1 = _mm512_setzero_si512();
      for (int j = 0; j < 8; j += 2) {
        int32_t x0, x1;
        std::memcpy(&x0, xb + 4 * j, 4);
        std::memcpy(&x1, xb + 4 * j + 4, 4);
        s0 = _mm512_dpbusd_epi32(s0, w[j], _mm512_set1_epi32(x0));
        s1 = _mm512_dpbusd_epi32(s1, w[j + 1], _mm512_set1_epi32(x1));
      }
      const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(xd[t * nb + b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), scale, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ys, acc[t]);
}

// Element k of the 16 rows of an interleaved float group (w[k][16] of kType) as f32.
template <DType kType>
HWY_INLINE __m512 LoadGroupColumn(const uint8_t* group, int64_t k) {
  if constexpr (kType == DType::kF32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(group) + k * 16);
  } else {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + k * 32));
    if constexpr (kType == DType::kF16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));  // BF16: the high half of f32
  }
}

// y[t * ys + r] = dot(row r of the group, x_{t0 + t}) for r < 16, t < T <= kFloatTokenTile, float
// weights: one FMA per element and token for 16 rows, x broadcast. P = 4 partial sums per token (k mod
// 4) keep four FMA chains in flight when T = 1 (decode: two chains could not keep up with memory on
// F16); P does not depend on T, so a token's result is the same in every tile size (batched
// sequences equal sequences run alone). T x P accumulators must fit the 32 registers with room for
// the weights, hence 4-token tiles. No software prefetch: a group is one contiguous stream, which the
// hardware prefetchers follow faster than with lines requested 8 KiB ahead into L2 (stories110m F16
// decode, tokens alternating in one process: cycles per token -3.0 to -6.7% at 2 threads in a slow
// hour, -0.6 to -1.1% in a fast one; 1 thread 118-124 -> 129-137 t/s).
template <int T, DType kType>
__attribute__((noinline)) void GroupDotsFloat(const uint8_t* group, const PackedActs& a, int64_t t0, float* y,
                                              int64_t ys) {
  constexpr int P = 4;
  const int64_t n = a.n_in;
  const float* x = &a.f[t0 * n];
  __m512 acc[T][P];
  for (int t = 0; t < T; ++t) {
    for (int p = 0; p < P; ++p) acc[t][p] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  for (; k + P <= n; k += P) {
    for (int p = 0; p < P; ++p) {
      const __m512 w = LoadGroupColumn<kType>(group, k + p);
      for (int t = 0; t < T; ++t) acc[t][p] = _mm512_fmadd_ps(w, _mm512_set1_ps(x[t * n + k + p]), acc[t][p]);
    }
  }
  for (; k < n; ++k) {
    const __m512 w = LoadGroupColumn<kType>(group, k);
    for (int t = 0; t < T; ++t) acc[t][0] = _mm512_fmadd_ps(w, _mm512_set1_ps(x[t * n + k]), acc[t][0]);
  }
  for (int t = 0; t < T; ++t) {
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), _mm512_add_ps(acc[t][2], acc[t][3]));
    _mm512_storeu_ps(y + t * ys, sum);
  }
}

// The kernels above for MatMulGroupsByType (group_tiles-inl.h).
struct GroupKernels512 {
  static constexpr int kIntTile = kGroupTokenTile, kFloatTile = kFloatTokenTile;
  template <int T, bool kQ4>
  static void Ints(const uint8_t* group, const PackedActs& a, int64_t t0, float* y, int64_t ys) {
    GroupDotsVnni<T, kQ4>(group, a, t0, y, ys);
  }
  template <int T, DType kType>
  static void Floats(const uint8_t* group, const PackedActs& a, int64_t t0, float* y, int64_t ys) {
    GroupDotsFloat<T, kType>(group, a, t0, y, ys);
  }
};

#pragma GCC pop_options
#endif  // HWY_TARGET == HWY_AVX3_DL

// ---- Row driver.

// out[t] = dot(row, x_{t0 + t}) for t < T.
template <int T>
HWY_INLINE void RowDots(DType type, const uint8_t* wrow, const PackedActs& a, int64_t t0, float* out) {
  const int64_t n = a.n_in;
  switch (type) {
    case DType::kF32:
      return FloatDots<T>(LoadF32{reinterpret_cast<const float*>(wrow)}, &a.f[t0 * n], n, n, out);
    case DType::kF16:
      return FloatDots<T>(LoadF16{reinterpret_cast<const uint16_t*>(wrow)}, &a.f[t0 * n], n, n, out);
    case DType::kBF16:
      return FloatDots<T>(LoadBF16{reinterpret_cast<const uint16_t*>(wrow)}, &a.f[t0 * n], n, n, out);
#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
    case DType::kQ8_0: return LegacyDotsX86<T, false>(wrow, a, t0, out);
    case DType::kQ4_0: return LegacyDotsX86<T, true>(wrow, a, t0, out);
    case DType::kQ4_K: return Q4KDotsX86<T>(wrow, a, t0, out);
    case DType::kQ6_K: return Q6KDotsX86<T>(wrow, a, t0, out);
#else
    case DType::kQ8_0: return LegacyDotsGeneric<T, false>(wrow, a, t0, out);
    case DType::kQ4_0: return LegacyDotsGeneric<T, true>(wrow, a, t0, out);
    case DType::kQ4_K: return Q4KDotsGeneric<T>(wrow, a, t0, out);
    case DType::kQ6_K: return Q6KDotsGeneric<T>(wrow, a, t0, out);
#endif
    default: CHECK(false);
  }
}

// y[t, r] for r in [r0, r1), all tokens, from the file layout; y: [n_tokens, n_out].
void RowByRow(const TensorView& w, const PackedActs& a, float* y, int64_t r0, int64_t r1) {
  const int64_t n_out = w.n_rows(), nt = a.n_tokens;
  const uint64_t row_bytes = w.row_bytes();
  const auto row = [&](int64_t r) { return w.data + static_cast<uint64_t>(r) * row_bytes; };
  float out[kTokenTile];
  for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
    const int64_t re = std::min(rb + kRowBlock, r1);
    int64_t t = 0;
    for (; t + kTokenTile <= nt; t += kTokenTile) {
      for (int64_t r = rb; r < re; ++r) {
        RowDots<kTokenTile>(w.dtype, row(r), a, t, out);
        for (int j = 0; j < kTokenTile; ++j) y[(t + j) * n_out + r] = out[j];
      }
    }
    const int64_t rest = nt - t;
    if (rest == 0) continue;
    for (int64_t r = rb; r < re; ++r) {
      if (rest == 1) RowDots<1>(w.dtype, row(r), a, t, out);
      if (rest == 2) RowDots<2>(w.dtype, row(r), a, t, out);
      if (rest == 3) RowDots<3>(w.dtype, row(r), a, t, out);
      for (int j = 0; j < rest; ++j) y[(t + j) * n_out + r] = out[j];
    }
  }
}

// y[t, r] for r in [r0, r1), all tokens; y: [n_tokens, n_out]. Whole 16-row groups come from the
// interleaved copy where this target has kernels for it.
void MatMulRowsImpl(const TensorView& w, const PackedActs& a, float* y, int64_t r0, int64_t r1) {
#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
  if (w.rows16 != nullptr) {
    const int64_t g0 = (r0 + kInterleaveRows - 1) / kInterleaveRows, g1 = r1 / kInterleaveRows;
    if (g0 < g1) {
      RowByRow(w, a, y, r0, g0 * kInterleaveRows);
#if HWY_TARGET == HWY_AVX2
      flotilla::MatMulGroupsAvx2(w, a, y, g0, g1);  // matmul_groups_avx2_simd.cc
#else
      if (w.dtype == DType::kQ4_K || w.dtype == DType::kQ6_K) {
        flotilla::MatMulGroupsKQuant(w, a, y, g0, g1);  // matmul_kquant_simd.cc
      } else {
        MatMulGroupsByType<GroupKernels512>(w, a, y, g0, g1);
      }
#endif
      RowByRow(w, a, y, g1 * kInterleaveRows, r1);
      return;
    }
  }
#endif
  RowByRow(w, a, y, r0, r1);
}

int64_t SimdTarget() { return HWY_TARGET; }

bool UsesRows16() { return HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2; }

}  // namespace HWY_NAMESPACE
}  // namespace flotilla
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace flotilla {

HWY_EXPORT(MatMulRowsImpl);
HWY_EXPORT(SimdTarget);
HWY_EXPORT(UsesRows16);

bool InterleavedKernelsAvailable() { return HWY_DYNAMIC_DISPATCH(UsesRows16)(); }

const char* MatMulSimdTargetName() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(SimdTarget)()); }

void MatMulRowsSimd(const TensorView& w, const PackedActs& acts, float* y, int64_t row_begin,
                    int64_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulRowsImpl)(w, acts, y, row_begin, row_end);
}

}  // namespace flotilla
#endif  // HWY_ONCE
