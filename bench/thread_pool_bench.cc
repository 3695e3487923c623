// Micro-benchmarks of ThreadPool::ParallelFor: the cost of one parallel region (start, split, wait)
// with an empty body — what token-by-token decoding pays per matrix product — and a region over a
// memory-bound body (summing a buffer larger than the caches), where chunk imbalance shows as lost
// bandwidth. Args: threads (and, for the memory case, MiB read per region).
#include <cstdint>
#include <numeric>
#include <vector>

#include <benchmark/benchmark.h>

#include "base/thread_pool.h"

namespace flotilla {
namespace {

void BM_EmptyRegion(benchmark::State& state) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  std::vector<int64_t> hits(64 * 8, 0);
  for (auto _ : state) {
    pool.ParallelFor(64, [&](int64_t b, int64_t e) { hits[static_cast<size_t>(b) * 8] += e - b; });
  }
  benchmark::DoNotOptimize(hits.data());
  state.SetItemsProcessed(state.iterations());  // items = regions
}
BENCHMARK(BM_EmptyRegion)->Arg(2)->Arg(4)->UseRealTime();

void BM_SumRegion(benchmark::State& state) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  const int64_t n = state.range(1) * (int64_t{1} << 20) / static_cast<int64_t>(sizeof(int64_t));
  // Several buffers read in turn so that none is still in cache when read again.
  std::vector<std::vector<int64_t>> bufs(8, std::vector<int64_t>(static_cast<size_t>(n), 1));
  std::vector<int64_t> sums(4096, 0);
  size_t which = 0;
  for (auto _ : state) {
    const int64_t* x = bufs[which++ % bufs.size()].data();
    pool.ParallelFor(n / 1024, [&](int64_t b, int64_t e) {
      int64_t s = 0;
      for (int64_t i = b * 1024; i < e * 1024; ++i) s += x[i];
      sums[static_cast<size_t>(b) % sums.size()] += s;
    });
  }
  benchmark::DoNotOptimize(sums.data());
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(int64_t)));
}
BENCHMARK(BM_SumRegion)->Args({1, 1})->Args({2, 1})->Args({1, 8})->Args({2, 8})->UseRealTime();

}  // namespace
}  // namespace flotilla

BENCHMARK_MAIN();
