// Software prefetch: PrefetchLines for any range (attention requests its cache rows with it), and
// PrefetchAhead / PrefetchAheadNta for kernels that stream weights from memory once per token
// (decode). Whether a stream gains from it depends on the kernel: the quantized kernels, with more
// work per byte, do (Q4_K decode without it: +34% cycles per token on llama3.2-1b; Q4_0 up to +8%
// on qwen2.5-0.5b), the float kernels, one plain stream per 16-row group, do not (matmul_simd.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace flotilla {

inline constexpr size_t kPrefetchAhead = 8192;  // bytes ahead of the block being read

// Requests the cache lines of [p, p + bytes) for reading, with __builtin_prefetch's locality kLocality
// (3: into L1, 2: into L2 (prefetcht1), 0: non-temporal).
template <int kLocality>
inline void PrefetchLines(const void* p, size_t bytes) {
  const char* q = static_cast<const char*>(p);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(q + off, 0, kLocality);
}

// Requests the cache lines of [p + kPrefetchAhead, p + kPrefetchAhead + bytes) for reading, into L2
// (prefetcht1): L2 tracks more outstanding misses than L1, so more of the stream is in flight. Against
// prefetcht0 here: 2-thread F16 decode of stories110m 218 -> 260 t/s (medians of 8 alternating runs)
// and the read-bandwidth probe 51-56 -> 57-60 GB/s. The float kernels used it until the hardware
// prefetchers alone measured faster still; now one of the read-bandwidth probe's ways of reading
// (roofline.h). The Q4_K/Q6_K kernels (matmul_kquant_simd.cc) spread their own prefetcht0 requests
// over each block (not measured with L2; prefetchnta there was within noise).
inline void PrefetchAhead(const void* p, size_t bytes) {
  PrefetchLines<2>(static_cast<const char*>(p) + kPrefetchAhead, bytes);
}

// The same with the non-temporal hint (prefetchnta), whose lines are meant to displace less of the
// caches on their way out (the likely reason, not measured: less of what the rest of a token's work
// reads is evicted by the stream). Used by the Q8_0 and Q4_0 group kernels, where it measured faster
// than prefetcht1: tokens alternating between the two in one process (2 threads, instrumented),
// cycles per token qwen2.5-0.5b Q4_0 -1.6 to -3.5% (5 runs), stories110m Q8_0 -5.4%, Q4_0 -3.6 and
// -4.0%, the output head's region alone -5 to -16%. The float kernels measured +0.8 and +2.3% with it
// on F16 (then prefetcht1); the read probe is the same with either (8 alternating pairs: 51.9 vs
// 52.3 GB/s).
inline void PrefetchAheadNta(const void* p, size_t bytes) {
  PrefetchLines<0>(static_cast<const char*>(p) + kPrefetchAhead, bytes);
}

// Part j of 8 of the Block at blk requests its share of the lines kPrefetchAhead bytes ahead, into L1:
// the K-quant group kernels spread a block's requests over its 8 sub-blocks. One token streams the
// weights from memory once and the hardware prefetchers alone leave it well short of the read
// bandwidth (AVX-512, one thread, 4096x32768 q4_K: 24 GB/s; with 8 KiB of software prefetch ahead, 45).
template <typename Block>
inline void PrefetchPartAhead(const Block* blk, int j) {
  constexpr int kLines = (sizeof(Block) + 63) / 64, kPerPart = (kLines + 7) / 8;
  const char* p = reinterpret_cast<const char*>(blk) + kPrefetchAhead;
  for (int l = kPerPart * j; l < kPerPart * (j + 1) && l < kLines; ++l) __builtin_prefetch(p + 64 * l, 0, 3);
}

}  // namespace flotilla
