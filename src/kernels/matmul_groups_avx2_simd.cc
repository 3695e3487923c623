// AVX2 kernels over weights interleaved in 16-row groups (kernels/repack.h): Q8_0, Q4_0, Q4_K, Q6_K, floats;
// the layout the AVX-512 kernels read: a 256-bit vector holds one half of a 512-bit line, 4 weights
// (or 1 float element) of 8 rows, so a group is two halves of 8 rows, with lane r of every vector =
// row 8h + r: no horizontal sums, one scale vector per block, results stored straight into y. One
// token (decode) takes both halves block by block, so the group streams from memory once (against a
// walk per half: 2048x32768 decode on AMD Zen 3 at one thread Q4_K 13 -> 19.5 GB/s, Q6_K 13.6 -> 21.6),
// Q8_0 / Q4_0 take two groups side by side and float weights four; tiles of tokens in the integer
// kernels walk a group once per half (the second from L1/L2), the float kernels' tiles take both halves.
//   Q4_0: vpmaddubsw of the unsigned nibbles (0..15) against 4 activations broadcast, vpmaddwd into
//     int32, the -8 folded in as -8 * sum(x) per block (exact, as the reference's integer sum).
//   Q8_0: the stored w + 128 does not fit vpmaddubsw's int16 pairs, so the products are |w| x
//     sign(x, w), w back to signed (|-128| = 128 as unsigned; sign(w, x) would wrap -(-128)), x in
//     [-127, 127]: each pair within 2 * 128 * 127. Tiles take |w| once for all their tokens.
//   Floats: widened to f32, one FMA per element, row and token, x broadcast; each row one sum in
//     order, whatever the tile (batched sequences equal sequences run alone).
//   Q4_K, Q6_K: see the K-quant section below.
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
#include "tensor/quant_blocks.h"

#if HWY_TARGET == HWY_AVX2
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace flotilla {
namespace HWY_NAMESPACE {

#if HWY_TARGET == HWY_AVX2

// Tokens sharing each decoded weight vector: T int sums and T accumulators with the column's weights fit
// 16 registers (tiles of 6 spilled and measured slower: Q8_0 90 -> 77 GFLOP/s, Q6_K 122 -> 89).
constexpr int kIntTokenTile = 4;
// Float weights: tiles of 5 tokens (10 accumulators); one token takes 4 groups side by side (4 streams
// of weights in flight, 8 FMA chains). On AMD Zen 3, F16 decode, against one group at a time (in 4
// ranges side by side for rows of 512 or more, in 2 partial sums of alternate elements below): one
// thread stories110m (rows of 768 and 2048) 84 -> 98 t/s, synth15M (rows of 288 and 768) 575 -> 794;
// two threads 110 -> 130 and 952 -> 1201 (medians of 4-5 alternating runs).
constexpr int kFloatTokenTile = 5;
constexpr int kFloatGroupsSideBySide = 4;

// The 4 bytes at p broadcast to all 8 lanes.
inline __m256i Broadcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Adds to acc[t] the products of block blk's rows 8h .. 8h+7 with block b of tokens t0 .. t0+T-1: each
// column of 4 weights (and 8 rows) decoded once for the tile, then one chain of sums per token.
template <int T, bool kQ4>
HWY_INLINE void HalfBlockDots(const uint8_t* blk, int h, int64_t b, const int8_t* xq, const float* xd,
                              const int32_t* xs, int64_t n, int64_t nb, __m256* acc) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), bias = _mm256_set1_epi8(-128);
  // fp16 scales of rows 8h .. 8h+7; then weights 4j .. 4j+3 of the block, 8 rows, at q + 64j.
  const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk) + h));
  const uint8_t* q = blk + 32 + 32 * h;
  const auto load = [&](int j) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64 * j)); };
  __m256i s[T];
  if constexpr (kQ4) {  // the 8 pairs of a row sum within 8 * 2 * 15 * 127 in int16
    __m256i p[T];
    for (int t = 0; t < T; ++t) p[t] = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {  // weights 4j .. 4j+3 in the low nibbles, 16 + 4j .. in the high
      const __m256i v = load(j), lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      for (int t = 0; t < T; ++t) {
        const int8_t* xb = xq + t * n + b * 32 + 4 * j;
        p[t] = _mm256_add_epi16(p[t], _mm256_maddubs_epi16(lo, Broadcast4(xb)));
        p[t] = _mm256_add_epi16(p[t], _mm256_maddubs_epi16(hi, Broadcast4(xb + 16)));
        __asm__("" : "+x"(p[t]));  // keeps the sum a chain: GCC's reassociated tree spills
      }
    }
    for (int t = 0; t < T; ++t) {
      s[t] = _mm256_add_epi32(_mm256_set1_epi32(-8 * xs[t * nb + b]), _mm256_madd_epi16(p[t], ones));
    }
  } else {  // |w| once per tile, then per token x with w's sign: 4 vector operations per 32 products
    for (int t = 0; t < T; ++t) s[t] = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const __m256i w = _mm256_xor_si256(load(j), bias), aw = _mm256_abs_epi8(w);
      for (int t = 0; t < T; ++t) {
        const __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(Broadcast4(xq + t * n + b * 32 + 4 * j), w));
        s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(p, ones));
        __asm__("" : "+x"(s[t]));  // keeps the sum a chain: GCC's reassociated tree spills
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_mul_ps(dw, _mm256_set1_ps(xd[t * nb + b])), acc[t]);
  }
}

// The same for one token, both halves and G groups gb bytes apart: acc[g][h] += rows 8h .. 8h+7 of
// block blk + g gb times block xb (scale xd, sum xs); each broadcast of x (and for Q8_0 its |x|) feeds
// every half of every group.
template <bool kQ4, int G>
HWY_INLINE void BlockDotsOneToken(const uint8_t* blk, size_t gb, const int8_t* xb, float xd, int32_t xs,
                                  __m256 (&acc)[G][2]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), bias = _mm256_set1_epi8(-128);
  // weights 4j .. 4j+3 of rows 8h .. 8h+7 of group g at blk + g gb + 32 + 64j + 32h
  const auto load = [&](int g, int j, int h) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + g * gb + 32 + 64 * j + 32 * h));
  };
  __m256i s[G][2];
  if constexpr (kQ4) {  // the 8 pairs of a row sum within 8 * 2 * 15 * 127 in int16
    __m256i p[G][2];
    for (int g = 0; g < G; ++g) p[g][0] = p[g][1] = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i lo = Broadcast4(xb + 4 * j), hi = Broadcast4(xb + 16 + 4 * j);
      for (int g = 0; g < G; ++g) {
        for (int h = 0; h < 2; ++h) {
          const __m256i v = load(g, j, h);
          p[g][h] = _mm256_add_epi16(p[g][h], _mm256_maddubs_epi16(_mm256_and_si256(v, m4), lo));
          p[g][h] = _mm256_add_epi16(p[g][h], _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), hi));
          if constexpr (G > 1) __asm__("" : "+x"(p[g][h]));  // keeps the sum a chain: GCC's reassociated tree spills
        }
      }
    }
    const __m256i offset = _mm256_set1_epi32(-8 * xs);
    for (int g = 0; g < G; ++g) {
      for (int h = 0; h < 2; ++h) s[g][h] = _mm256_add_epi32(offset, _mm256_madd_epi16(p[g][h], ones));
    }
  } else {
    for (int g = 0; g < G; ++g) s[g][0] = s[g][1] = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const __m256i x = Broadcast4(xb + 4 * j);
      for (int g = 0; g < G; ++g) {
        for (int h = 0; h < 2; ++h) {
          const __m256i w = _mm256_xor_si256(load(g, j, h), bias);
          const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
          s[g][h] = _mm256_add_epi32(s[g][h], _mm256_madd_epi16(p, ones));
          if constexpr (G > 1) __asm__("" : "+x"(s[g][h]));
        }
      }
    }
  }
  const __m256 xdv = _mm256_set1_ps(xd);
  for (int g = 0; g < G; ++g) {
    for (int h = 0; h < 2; ++h) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + g * gb) + h));
      acc[g][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[g][h]), _mm256_mul_ps(dw, xdv), acc[g][h]);
    }
  }
}

// y[16g + 8h + r] = dot(row 8h + r of group g, x) for r < 8, h < 2, g < G, x the one token of a; the
// groups are gb bytes apart. Each group is read once, both halves block by block; G = 2 takes two
// groups side by side (two streams in flight, each x broadcast feeding four halves).
template <bool kQ4, int G>
__attribute__((noinline)) void OneTokenGroupDots(const uint8_t* group, size_t gb, const PackedActs& a,
                                                 int64_t t0, float* y) {
  const int64_t nb = a.n_in / 32;
  const int8_t* xq = &a.q[t0 * a.n_in];
  const float* xd = &a.d[t0 * nb];
  const int32_t* xs = &a.xsum[t0 * nb];
  const size_t block_bytes = kQ4 ? sizeof(BlockQ4_0x16) : sizeof(BlockQ8_0x16);
  __m256 acc[G][2];
  for (int g = 0; g < G; ++g) acc[g][0] = acc[g][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * block_bytes;
    for (int g = 0; g < G; ++g) PrefetchAheadNta(blk + g * gb, block_bytes);
    BlockDotsOneToken<kQ4, G>(blk, gb, xq + b * 32, xd[b], xs[b], acc);
  }
  for (int g = 0; g < G; ++g) {
    for (int h = 0; h < 2; ++h) _mm256_storeu_ps(y + 16 * g + 8 * h, acc[g][h]);
  }
}

// y[t * ys + 8h + r] = dot(row 8h + r of the group, x_{t0 + t}) for r < 8, h < 2, t < T. One token is
// OneTokenGroupDots; larger tiles walk the group once per half (HalfBlockDots: T float accumulators,
// T int sums).
template <int T, bool kQ4>
__attribute__((noinline)) void GroupDotsAvx2(const uint8_t* group, const PackedActs& a, int64_t t0, float* y,
                                             int64_t ys) {
  const int64_t n = a.n_in, nb = n / 32;
  const int8_t* xq = &a.q[t0 * n];
  const float* xd = &a.d[t0 * nb];
  const int32_t* xs = &a.xsum[t0 * nb];
  const size_t block_bytes = kQ4 ? sizeof(BlockQ4_0x16) : sizeof(BlockQ8_0x16);
  if constexpr (T == 1) {
    OneTokenGroupDots<kQ4, 1>(group, 0, a, t0, y);
  } else {  // one pass per half
    for (int h = 0; h < 2; ++h) {
      __m256 acc[T];
      for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
      for (int64_t b = 0; b < nb; ++b) {
        HalfBlockDots<T, kQ4>(group + static_cast<size_t>(b) * block_bytes, h, b, xq, xd, xs, n, nb, acc);
      }
      for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * ys + 8 * h, acc[t]);
    }
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

// acc[g][h][t] += element i of rows 8h .. 8h+7 of group g (the groups gb bytes apart) times x_t = x + t n,
// for i = 0 .. n-1 in order.
template <int G, int T, DType kType>
HWY_INLINE void FloatDots(const uint8_t* group, size_t gb, const float* x, int64_t n, __m256 (&acc)[G][2][T]) {
  for (int64_t i = 0; i < n; ++i) {
    __m256 xi[T];
    for (int t = 0; t < T; ++t) xi[t] = _mm256_set1_ps(x[t * n + i]);
    for (int g = 0; g < G; ++g) {
      for (int h = 0; h < 2; ++h) {
        const __m256 w = LoadHalfColumn<kType>(group + g * gb, i, h);
        for (int t = 0; t < T; ++t) acc[g][h][t] = _mm256_fmadd_ps(w, xi[t], acc[g][h][t]);
      }
    }
  }
}

// y[t * ys + 16g + 8h + r] = dot(row 8h + r of group g, x_{t0 + t}) for r < 8, h < 2, t < T, g < G, for
// float weights, the groups gb bytes apart. Both halves in one pass, each weight load feeding T
// tokens; the 2 G T accumulators fit 12 registers (tiles of 5 against 3 x 2 partial sums: F16
// 576x1536x128 at one thread 75 -> 82 GFLOP/s, medians of 7 alternating runs).
template <int G, int T, DType kType>
__attribute__((noinline)) void GroupDotsFloatAvx2(const uint8_t* group, size_t gb, const PackedActs& a, int64_t t0,
                                                  float* y, int64_t ys) {
  static_assert(2 * G * T <= 12);
  __m256 acc[G][2][T];
  for (int g = 0; g < G; ++g) {
    for (int h = 0; h < 2; ++h) {
      for (int t = 0; t < T; ++t) acc[g][h][t] = _mm256_setzero_ps();
    }
  }
  FloatDots<G, T, kType>(group, gb, &a.f[t0 * a.n_in], a.n_in, acc);
  for (int g = 0; g < G; ++g) {
    for (int h = 0; h < 2; ++h) {
      for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * ys + 16 * g + 8 * h, acc[g][h][t]);
    }
  }
}

// One token against float weights: groups [g0, g1) G at a time side by side, the rest fewer at a time.
template <DType kType, int G>
void OneTokenFloatGroups(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1) {
  const size_t gb = InterleavedGroupBytes(w.dtype, w.row_len());
  int64_t g = g0;
  for (; g + G <= g1; g += G) GroupDotsFloatAvx2<G, 1, kType>(w.rows16 + g * gb, gb, a, 0, y + g * kInterleaveRows, 0);
  if constexpr (G > 1) OneTokenFloatGroups<kType, G / 2>(w, a, y, g, g1);
}

// ---- K-quants against Q8_K activations. Per super-block of 256, half and token the integer sums are
// exact (as in the reference's integer form), then scaled in float:
//   Q4_K: acc += d * xd * sum_j sc_j * dot_j(q, x) - dmin * xd * sum_j mn_j * (sum of x over sub-block j)
//   Q6_K: acc += d * xd * sum_i sc_i * (dot_i(q, x) - 32 * bsum_i)   (q stored unsigned 0..63)
// vpmaddubsw pairs are summed in int16 while they fit (Q4_K: 8 pairs of 2 * 15 * 127; Q6_K: 2 of
// 2 * 63 * 127), then vpmaddwd applies each row's scale, duplicated into both int16 halves of its lane.

// Halves of a K-quant group per pass for a tile of T tokens: one token takes both (the group is read
// once), larger tiles one (their accumulators and a sub-block's weights fill the registers).
template <int T>
constexpr int kKQuantHalves = T == 1 ? 2 : 1;

// acc[k][t] += isum[k][t] x d (rows 8(h0 + k) ..) x xk[t * nb].d: one super-block's exact integer sums,
// scaled (d: the block's 16 fp16 row scales).
template <int kH, int T>
HWY_INLINE void AddScaledSums(const uint16_t* d16, int h0, const BlockQ8_K* xk, int64_t nb,
                              const __m256i (&isum)[kH][T], __m256 (&acc)[kH][T]) {
  for (int k = 0; k < kH; ++k) {
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d16 + 8 * (h0 + k))));
    for (int t = 0; t < T; ++t) {
      acc[k][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[k][t]), _mm256_mul_ps(d, _mm256_set1_ps(xk[t * nb].d)),
                                  acc[k][t]);
    }
  }
}

// y[t * ys + 8(h0 + k) + r] = lane r of acc[k][t].
template <int kH, int T>
HWY_INLINE void StoreHalves(const __m256 (&acc)[kH][T], int h0, float* y, int64_t ys) {
  for (int k = 0; k < kH; ++k) {
    for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * ys + 8 * (h0 + k), acc[k][t]);
  }
}

// y[t * ys + 8h + r] = dot(row 8h + r of the Q4_K group, x_{t0 + t}) for r < 8, h < 2, t < T.
template <int T>
__attribute__((noinline)) void Q4KGroupDotsAvx2(const uint8_t* group, const PackedActs& a, int64_t t0, float* y,
                                                int64_t ys) {
  const int64_t nb = a.n_in / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const BlockQ8_K* xk = &a.k[t0 * nb];
  constexpr int kH = kKQuantHalves<T>;
  for (int h0 = 0; h0 < 2; h0 += kH) {
    __m256 acc[kH][T] = {};
    __m256i isum[kH][T];
    for (int64_t b = 0; b < nb; ++b) {
      const auto* blk = reinterpret_cast<const BlockQ4_Kx16*>(group) + b;
      for (int t = 0; t < T; ++t) {
        const BlockQ8_K& x = xk[t * nb + b];
        const __m256i sums32 = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums)),
                                                 _mm256_set1_epi16(1));
        alignas(16) int16_t xs[8];  // x's sums over the 8 sub-blocks of 32 (each within 32 * 127)
        _mm_store_si128(reinterpret_cast<__m128i*>(xs),
                        _mm_packs_epi32(_mm256_castsi256_si128(sums32), _mm256_extracti128_si256(sums32, 1)));
        for (int k = 0; k < kH; ++k) {
          const int h = h0 + k;
          const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->dmin + 8 * h)));
          // Mins: lane r of mp(p) holds the int16 pair (mn_2p, mn_2p+1) of row 8h + r.
          const auto mp = [&](int p) {
            return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->mn[p][8 * h])));
          };
          __m256i msum = _mm256_madd_epi16(mp(0), Broadcast4(xs));
          for (int p = 1; p < 4; ++p) msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mp(p), Broadcast4(xs + 2 * p)));
          acc[k][t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, _mm256_set1_ps(x.d)), acc[k][t]);
          isum[k][t] = _mm256_setzero_si256();
        }
      }
      for (int j = 0; j < 8; ++j) {
        if (T == 1) PrefetchPartAhead(blk, j);
        for (int k = 0; k < kH; ++k) {
          const int h = h0 + k;
          __m256i p16[T];  // per token: sub-block j's 8 pairs of products per row
          for (int t = 0; t < T; ++t) p16[t] = _mm256_setzero_si256();
          for (int i = 0; i < 4; ++i) {  // weights 4i .. 4i+3 of sub-block j in the low nibbles, 16 + 4i .. high
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->q[j][i][8 * h]));
            const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            for (int t = 0; t < T; ++t) {
              const int8_t* xq = xk[t * nb + b].qs + 32 * j + 4 * i;
              p16[t] = _mm256_add_epi16(p16[t], _mm256_maddubs_epi16(lo, Broadcast4(xq)));
              p16[t] = _mm256_add_epi16(p16[t], _mm256_maddubs_epi16(hi, Broadcast4(xq + 16)));
              __asm__("" : "+x"(p16[t]));  // keeps the sum a chain: GCC's reassociated tree spills
            }
          }
          const __m256i sc32 =
              _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk->sc[j] + 8 * h)));
          const __m256i sc = _mm256_or_si256(sc32, _mm256_slli_epi32(sc32, 16));
          for (int t = 0; t < T; ++t) isum[k][t] = _mm256_add_epi32(isum[k][t], _mm256_madd_epi16(p16[t], sc));
        }
      }
      AddScaledSums(blk->d, h0, xk + b, nb, isum, acc);
    }
    StoreHalves(acc, h0, y, ys);
  }
}

// y[t * ys + 8h + r] = dot(row 8h + r of the Q6_K group, x_{t0 + t}) for r < 8, h < 2, t < T.
template <int T>
__attribute__((noinline)) void Q6KGroupDotsAvx2(const uint8_t* group, const PackedActs& a, int64_t t0, float* y,
                                                int64_t ys) {
  const int64_t nb = a.n_in / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
  const BlockQ8_K* xk = &a.k[t0 * nb];
  // Bits 2i, 2i + 1 of each byte of v moved to bits 4, 5, the rest cleared (16-bit shifts leak only
  // into bits the mask clears).
  const auto high2 = [&](__m256i v, int i) {
    const __m256i moved = i == 0 ? _mm256_slli_epi16(v, 4) : i == 1 ? _mm256_slli_epi16(v, 2) : i == 2 ? v : _mm256_srli_epi16(v, 2);
    return _mm256_and_si256(moved, bits45);
  };
  constexpr int kH = kKQuantHalves<T>;
  for (int h0 = 0; h0 < 2; h0 += kH) {
    __m256 acc[kH][T] = {};
    __m256i isum[kH][T];
    for (int64_t b = 0; b < nb; ++b) {
      const auto* blk = reinterpret_cast<const BlockQ6_Kx16*>(group) + b;
      for (int k = 0; k < kH; ++k) {
        for (int t = 0; t < T; ++t) isum[k][t] = _mm256_setzero_si256();
      }
      for (int j = 0; j < 8; ++j) {
        if (T == 1) PrefetchPartAhead(blk, j);
        for (int k = 0; k < kH; ++k) {
          const int h = h0 + k;
          const __m256i hi0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh[j][0][8 * h]));
          const __m256i hi1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh[j][1][8 * h]));
          // Lane r: the int16 pair (sc_2j, sc_2j+1) of row 8h + r, and each of the two duplicated.
          const __m256i pair =
              _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->sc[j][8 * h])));
          const __m256i sc0 = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(pair, 0xA0), 0xA0);  // (0,0,2,2)
          const __m256i sc1 = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(pair, 0xF5), 0xF5);  // (1,1,3,3)
          for (int i = 0; i < 4; i += 2) {
            // w[0], w[1]: weights 4i .. 4i+7 of sub-block 2j; w[2], w[3] the same of sub-block 2j + 1.
            __m256i w[4];
            for (int u = 0; u < 2; ++u) {
              const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->ql[j][i + u][8 * h]));
              w[u] = _mm256_or_si256(_mm256_and_si256(v, m4), high2(hi0, i + u));
              w[2 + u] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), high2(hi1, i + u));
            }
            for (int t = 0; t < T; ++t) {
              const int8_t* xq = xk[t * nb + b].qs + 32 * j + 4 * i;
              const __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], Broadcast4(xq)),
                                                  _mm256_maddubs_epi16(w[1], Broadcast4(xq + 4)));
              const __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], Broadcast4(xq + 16)),
                                                  _mm256_maddubs_epi16(w[3], Broadcast4(xq + 20)));
              isum[k][t] = _mm256_add_epi32(isum[k][t], _mm256_madd_epi16(p0, sc0));
              isum[k][t] = _mm256_add_epi32(isum[k][t], _mm256_madd_epi16(p1, sc1));
              __asm__("" : "+x"(isum[k][t]));  // keeps the sum a chain: GCC's reassociated tree spills
            }
          }
          for (int t = 0; t < T; ++t) {  // the -32 offset: 32 * (sc_2j * bsum_2j + sc_2j+1 * bsum_2j+1)
            const __m256i off =
                _mm256_slli_epi32(_mm256_madd_epi16(pair, Broadcast4(xk[t * nb + b].bsums + 2 * j)), 5);
            isum[k][t] = _mm256_sub_epi32(isum[k][t], off);
          }
        }
      }
      AddScaledSums(blk->d, h0, xk + b, nb, isum, acc);
    }
    StoreHalves(acc, h0, y, ys);
  }
}

// The kernels above for MatMulIntGroups and MatMulFloatGroups (group_tiles-inl.h).
struct IntKernelsAvx2 {
  static constexpr int kIntTile = kIntTokenTile;
  template <int T, bool kQ4>
  static void Ints(const uint8_t* group, const PackedActs& a, int64_t t0, float* y, int64_t ys) {
    GroupDotsAvx2<T, kQ4>(group, a, t0, y, ys);
  }
};
struct FloatKernelsAvx2 {
  static constexpr int kFloatTile = kFloatTokenTile;
  template <int T, DType kType>
  static void Floats(const uint8_t* group, const PackedActs& a, int64_t t0, float* y, int64_t ys) {
    GroupDotsFloatAvx2<1, T, kType>(group, 0, a, t0, y, ys);
  }
};

void MatMulGroupsAvx2Impl(const TensorView& w, const PackedActs& a, float* y, int64_t g0, int64_t g1) {
  CHECK(w.rows16 != nullptr);
  const auto kquant = [&](auto dots) {
    ForEachGroupTile<kIntTokenTile>(w, a, y, g0, g1, [&](auto tile, const uint8_t* group, int64_t t0, float* yt) {
      dots(tile, group, t0, yt);
    });
  };
  if (w.dtype == DType::kQ4_K) {
    return kquant([&](auto tile, const uint8_t* group, int64_t t0, float* yt) {
      Q4KGroupDotsAvx2<decltype(tile)::value>(group, a, t0, yt, w.n_rows());
    });
  }
  if (w.dtype == DType::kQ6_K) {
    return kquant([&](auto tile, const uint8_t* group, int64_t t0, float* yt) {
      Q6KGroupDotsAvx2<decltype(tile)::value>(group, a, t0, yt, w.n_rows());
    });
  }
  if (w.dtype == DType::kQ8_0 || w.dtype == DType::kQ4_0) {
    if (a.n_tokens > 1) return MatMulIntGroups<IntKernelsAvx2>(w, a, y, g0, g1);
    const size_t gb = InterleavedGroupBytes(w.dtype, w.row_len());
    const auto pairs = [&]<bool kQ4>() {  // decode: groups in pairs
      int64_t g = g0;
      for (; g + 2 <= g1; g += 2) OneTokenGroupDots<kQ4, 2>(w.rows16 + g * gb, gb, a, 0, y + g * kInterleaveRows);
      if (g < g1) OneTokenGroupDots<kQ4, 1>(w.rows16 + g * gb, gb, a, 0, y + g * kInterleaveRows);
    };
    return w.dtype == DType::kQ4_0 ? pairs.template operator()<true>() : pairs.template operator()<false>();
  }
  if (a.n_tokens > 1) return MatMulFloatGroups<FloatKernelsAvx2>(w, a, y, g0, g1);
  switch (w.dtype) {
    case DType::kF32: return OneTokenFloatGroups<DType::kF32, kFloatGroupsSideBySide>(w, a, y, g0, g1);
    case DType::kF16: return OneTokenFloatGroups<DType::kF16, kFloatGroupsSideBySide>(w, a, y, g0, g1);
    case DType::kBF16: return OneTokenFloatGroups<DType::kBF16, kFloatGroupsSideBySide>(w, a, y, g0, g1);
    default: CHECK(false);
  }
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
