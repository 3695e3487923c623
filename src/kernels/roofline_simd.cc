// Highway kernels behind roofline.h: a streaming sum and an FMA chain benchmark.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/roofline_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "base/huge_page_buffer.h"
#include "kernels/prefetch.h"
#include "kernels/roofline.h"

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace flotilla {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sum of p[0..n) (n a multiple of 4 vectors), read once, requesting lines ahead of the reads in one of
// the ways of roofline.h (kReadAhead*).
template <int kReadAhead>
HWY_INLINE float StreamSumWith(const float* p, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i + 4 * N <= n; i += 4 * N) {
    if constexpr (kReadAhead == kReadAheadL2) PrefetchAhead(p + i, 4 * N * sizeof(float));
    if constexpr (kReadAhead == kReadAheadNta) PrefetchAheadNta(p + i, 4 * N * sizeof(float));
    a0 = hn::Add(a0, hn::LoadU(d, p + i));
    a1 = hn::Add(a1, hn::LoadU(d, p + i + N));
    a2 = hn::Add(a2, hn::LoadU(d, p + i + 2 * N));
    a3 = hn::Add(a3, hn::LoadU(d, p + i + 3 * N));
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
}

float StreamSum(const float* p, int64_t n, int read_ahead) {
  switch (read_ahead) {
    case kReadAheadL2: return StreamSumWith<kReadAheadL2>(p, n);
    case kReadAheadNta: return StreamSumWith<kReadAheadNta>(p, n);
    default: return StreamSumWith<kReadAheadNone>(p, n);
  }
}

// Runs `iters` rounds of 12 independent FMA chains; returns the flops done (and a sink value).
double FmaChains(int64_t iters, float* sink) {
  const hn::ScalableTag<float> d;
  auto m = hn::Set(d, 0.999999f), c = hn::Set(d, 1e-7f);
  decltype(m) a[12];
  for (int j = 0; j < 12; ++j) a[j] = hn::Set(d, static_cast<float>(j));
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < 12; ++j) a[j] = hn::MulAdd(a[j], m, c);
  }
  auto s = a[0];
  for (int j = 1; j < 12; ++j) s = hn::Add(s, a[j]);
  *sink = hn::GetLane(s);
  return 2.0 * 12.0 * static_cast<double>(hn::Lanes(d)) * static_cast<double>(iters);
}

#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx2,fma,f16c,bmi2,no-avxvnni")
// Runs `iters` rounds of 12 independent vpdpbusd chains (the quantized matmul kernels' instruction);
// returns the int8 ops done (a multiply-add counts 2).
double Int8DotChains(int64_t iters, int32_t* sink) {
  __m512i a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_epi32(j);
  const __m512i u = _mm512_set1_epi8(1), s = _mm512_set1_epi8(-1);
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < 12; ++j) a[j] = _mm512_dpbusd_epi32(a[j], u, s);
  }
  __m512i sum = a[0];
  for (int j = 1; j < 12; ++j) sum = _mm512_add_epi32(sum, a[j]);
  *sink = _mm512_reduce_add_epi32(sum);
  return 2.0 * 12.0 * 64.0 * static_cast<double>(iters);
}
#pragma GCC pop_options
#elif HWY_TARGET == HWY_AVX2
// The same with the AVX2 kernels' vpmaddubsw (32 u8 x s8 products summed in int16 pairs) added into
// int16 sums, as they add pairs before widening. Each product reads its chain's sum as the signed
// bytes, so the compiler cannot hoist it out of the loop (with constant operands it did, and the loop
// measured vpaddw alone); the sums wrap, which integer vector adds do.
double Int8DotChains(int64_t iters, int32_t* sink) {
  __m256i a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_epi16(static_cast<int16_t>(j));
  const __m256i u = _mm256_set1_epi8(3);
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < 12; ++j) a[j] = _mm256_add_epi16(a[j], _mm256_maddubs_epi16(u, a[j]));
  }
  __m256i sum = a[0];
  for (int j = 1; j < 12; ++j) sum = _mm256_add_epi16(sum, a[j]);
  *sink = _mm256_extract_epi16(sum, 0);
  return 2.0 * 12.0 * 32.0 * static_cast<double>(iters);
}
#else
// The same with the generic kernels' int16 widening multiply-add.
double Int8DotChains(int64_t iters, int32_t* sink) {
  const hn::ScalableTag<int16_t> d16;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const auto x = hn::Set(d16, 3), y = hn::Set(d16, -2);
  decltype(hn::Zero(d32)) a[12], b[12];
  for (int j = 0; j < 12; ++j) a[j] = b[j] = hn::Set(d32, j);
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < 12; ++j) a[j] = hn::ReorderWidenMulAccumulate(d32, x, y, a[j], b[j]);
  }
  auto sum = hn::Add(a[0], b[0]);
  for (int j = 1; j < 12; ++j) sum = hn::Add(sum, hn::Add(a[j], b[j]));
  *sink = hn::GetLane(sum);
  return 2.0 * 12.0 * static_cast<double>(hn::Lanes(d16)) * static_cast<double>(iters);
}
#endif

}  // namespace HWY_NAMESPACE
}  // namespace flotilla
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace flotilla {

HWY_EXPORT(StreamSum);
HWY_EXPORT(FmaChains);
HWY_EXPORT(Int8DotChains);

namespace {
double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Runs fn(t) for t < nt on nt distinct threads at once (the pool may run two chunks on one thread;
// a limit measurement must not).
template <typename Fn>
void OnEachThread(int nt, const Fn& fn) {
  std::vector<std::thread> threads;
  for (int t = 1; t < nt; ++t) threads.emplace_back([&fn, t] { fn(t); });
  fn(0);
  for (std::thread& th : threads) th.join();
}
}  // namespace

double MeasureReadBandwidth(ThreadPool& pool, int64_t bytes, int reps) {
  const int64_t n = bytes / 4 / 1024 * 1024;
  // On huge pages, as the model's weights are (model/weights.h), so both streams pay the same for
  // address translation.
  StatusOr<HugePageBuffer> storage = HugePageBuffer::Allocate(static_cast<size_t>(n) * sizeof(float));
  if (!storage.ok()) return 0;  // no limit to report
  float* const buf = reinterpret_cast<float*>(storage->data());
  const int nt = pool.n_threads();
  // Each thread first touches the part it will read (first-touch placement), then streams it.
  OnEachThread(nt, [&](int64_t t) { std::memset(buf + n * t / nt, 1, static_cast<size_t>(n / nt) * 4); });
  std::vector<float> sinks(nt);
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    for (int read_ahead : {kReadAheadNone, kReadAheadL2, kReadAheadNta}) {
      const auto t0 = std::chrono::steady_clock::now();
      OnEachThread(nt, [&](int64_t t) {
        const int64_t lo = n * t / nt / 1024 * 1024, hi = n * (t + 1) / nt / 1024 * 1024;
        sinks[t] = HWY_DYNAMIC_DISPATCH(StreamSum)(buf + lo, hi - lo, read_ahead);
      });
      best = std::max(best, static_cast<double>(n) * 4 / Seconds(t0, std::chrono::steady_clock::now()) / 1e9);
    }
  }
  return best;
}

// Best of `reps` rates (1e9 ops/s) of chains(t) run on each of the pool's threads at once.
template <typename Chains>
double MeasurePeak(ThreadPool& pool, int reps, const Chains& chains) {
  const int nt = pool.n_threads();
  std::vector<double> ops(nt);
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    OnEachThread(nt, [&](int64_t t) { ops[t] = chains(t); });
    const double s = Seconds(t0, std::chrono::steady_clock::now());
    double total = 0;
    for (double o : ops) total += o;
    best = std::max(best, total / s / 1e9);
  }
  return best;
}

double MeasurePeakGflops(ThreadPool& pool, int reps) {
  std::vector<float> sinks(pool.n_threads());
  return MeasurePeak(pool, reps, [&](int64_t t) { return HWY_DYNAMIC_DISPATCH(FmaChains)(20'000'000, &sinks[t]); });
}

double MeasurePeakInt8Gops(ThreadPool& pool, int reps) {
  std::vector<int32_t> sinks(pool.n_threads());
  return MeasurePeak(pool, reps,
                     [&](int64_t t) { return HWY_DYNAMIC_DISPATCH(Int8DotChains)(20'000'000, &sinks[t]); });
}

}  // namespace flotilla
#endif  // HWY_ONCE
