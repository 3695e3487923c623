// Micro-benchmarks of the activation quantizers on one thread: the scalar references
// (QuantizeRowQ8_0_ref, QuantizeRowQ8_K_ref) against the dispatched SIMD versions (quantize_acts.h).
// bytes_per_second counts input float bytes; the shape is one prefill chunk of activations.
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "kernels/quantize_acts.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"

namespace flotilla {
namespace {

std::vector<float> MakeActs(int64_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = normal(rng);
  return x;
}

// Args: n (floats), simd (1) or ref (0).
void BM_QuantizeQ8_0(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool simd = state.range(1) != 0;
  const std::vector<float> x = MakeActs(n);
  std::vector<BlockQ8_0> blocks(static_cast<size_t>(n / kQK8_0));
  std::vector<int8_t> q(static_cast<size_t>(n));
  std::vector<float> d(static_cast<size_t>(n / kQK8_0));
  std::vector<int32_t> xsum(static_cast<size_t>(n / kQK8_0));
  for (auto _ : state) {
    if (simd) {
      QuantizeActsQ8_0(x.data(), n, q.data(), d.data(), xsum.data());
      benchmark::DoNotOptimize(q.data());
    } else {
      QuantizeRowQ8_0_ref(x.data(), blocks.data(), n);
      benchmark::DoNotOptimize(blocks.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)));
  state.SetLabel(simd ? std::string("simd ") + QuantizeActsTargetName() : "ref");
}

void BM_QuantizeQ8_K(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool simd = state.range(1) != 0;
  const std::vector<float> x = MakeActs(n);
  std::vector<BlockQ8_K> blocks(static_cast<size_t>(n / kQK_K));
  for (auto _ : state) {
    if (simd) {
      QuantizeActsQ8_K(x.data(), n, blocks.data());
    } else {
      QuantizeRowQ8_K_ref(x.data(), blocks.data(), n);
    }
    benchmark::DoNotOptimize(blocks.data());
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)));
  state.SetLabel(simd ? std::string("simd ") + QuantizeActsTargetName() : "ref");
}

// 768 x 16 tokens (fits L1/L2 as in a packing chunk) and 3072 x 32 (a feed-forward row block).
BENCHMARK(BM_QuantizeQ8_0)->ArgsProduct({{768 * 16, 3072 * 32}, {0, 1}})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QuantizeQ8_K)->ArgsProduct({{768 * 16, 3072 * 32}, {0, 1}})->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace flotilla

BENCHMARK_MAIN();
