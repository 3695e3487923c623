// Software prefetch for kernels that stream weights from memory once per token (decode): the
// hardware prefetchers alone leave one thread well short of the read bandwidth here (one token
// against a 768 x 32000 matrix: ~24 GB/s; with lines requested 8 KiB ahead, 35-50 GB/s).
#pragma once

#include <cstddef>
#include <cstdint>

namespace flotilla {

inline constexpr size_t kPrefetchAhead = 8192;  // bytes ahead of the block being read

// Requests the cache lines of [p + kPrefetchAhead, p + kPrefetchAhead + bytes) for reading.
inline void PrefetchAhead(const void* p, size_t bytes) {
  const char* q = static_cast<const char*>(p) + kPrefetchAhead;
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(q + off, 0, 3);
}

}  // namespace flotilla
