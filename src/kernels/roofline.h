// This machine's limits, measured: the roofline that benchmarks report their fraction of.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"

namespace flotilla {

// How a stream requests its lines ahead of its reads: not at all (the hardware prefetchers alone, as
// the float decode kernels read), kPrefetchAhead bytes ahead into L2 (PrefetchAhead), or
// non-temporally (PrefetchAheadNta, as the Q8_0 and Q4_0 kernels read; kernels/prefetch.h). Which is
// fastest depends on the machine and its load (here, 2 threads, means of 10 alternating passes: 64 /
// 58 / 59 GB/s in one minute, 53 / 48 / 51 in another; one thread: 38 / 33 / 37).
inline constexpr int kReadAheadNone = 0, kReadAheadL2 = 1, kReadAheadNta = 2;

// Memory read bandwidth in GB/s (1e9 bytes/s) with pool.n_threads() threads of its own streaming disjoint
// parts of a `bytes` buffer (make it several times the last-level cache): the best of `reps` passes
// with each way of reading ahead, so that no kernel reads faster than the limit it is set against.
double MeasureReadBandwidth(ThreadPool& pool, int64_t bytes = int64_t{512} << 20, int reps = 5);

// Peak f32 FMA throughput in GFLOP/s (an FMA counts 2) with the widest vectors MatMul uses on this
// CPU, on pool.n_threads() threads of its own; best of `reps`.
double MeasurePeakGflops(ThreadPool& pool, int reps = 3);

// Peak int8 dot-product throughput in GOP/s (a multiply-add counts 2) with the instruction the
// quantized matmul kernels use on this CPU (vpdpbusd with AVX-512 VNNI; vpmaddubsw with AVX2; int16
// multiply-add pairs elsewhere), on pool.n_threads() threads of its own; best of `reps`.
double MeasurePeakInt8Gops(ThreadPool& pool, int reps = 3);

}  // namespace flotilla
