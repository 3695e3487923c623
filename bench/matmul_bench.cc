// Micro-benchmarks of the MatMul kernels on one thread (the dispatched SIMD kernel and the scalar
// reference): bytes_per_second counts weight bytes, items_per_second multiply-adds x 2 (flops).
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "base/huge_page_buffer.h"
#include "kernels/matmul.h"
#include "kernels/repack.h"
#include "tensor/traits.h"

namespace flotilla {
namespace {

struct Weights {
  std::vector<uint8_t> bytes;
  TensorView w;
};

Weights MakeWeights(DType dtype, int64_t n_in, int64_t n_out) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> f(n_in * n_out);
  for (float& v : f) v = normal(rng);
  Weights w;
  w.bytes = *QuantizeTensor(dtype, f.data(), n_out, n_in);
  w.w.dtype = dtype;
  w.w.ne[0] = n_in;
  w.w.ne[1] = n_out;
  w.w.data = w.bytes.data();
  return w;
}

// Args: dtype, n_in, n_out, n_tokens, kernel: 0 the reference, 1 SIMD on the file layout, 2 SIMD on
// the 16-row interleaved copy (kernels/repack.h).
void BM_MatMul(benchmark::State& state) {
  const DType dtype = static_cast<DType>(state.range(0));
  const int64_t n_in = state.range(1), n_out = state.range(2), n_tokens = state.range(3);
  const bool simd = state.range(4) != 0, interleaved = state.range(4) == 2;
  Weights w = MakeWeights(dtype, n_in, n_out);
  StatusOr<HugePageBuffer> rows16 = HugePageBuffer::Allocate(InterleavedBytes(w.w));  // as the model keeps it
  if (interleaved) {
    if (!rows16.ok() || rows16->size() == 0 || !InterleavedKernelsAvailable()) {
      state.SkipWithError("no interleaved kernel for this dtype on this CPU");
      return;
    }
    InterleaveRows(w.w, rows16->data());
    w.w.rows16 = rows16->data();
  }
  std::vector<float> x(n_in * n_tokens, 0.5f), y(n_out * n_tokens);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) * 0.1f - 0.8f;
  ThreadPool pool(1);
  PackedActs acts;
  for (auto _ : state) {
    if (simd) {
      PackActivations(dtype, x.data(), n_tokens, n_in, &acts);
      MatMulRows(w.w, acts, y.data(), 0, n_out);
    } else {
      MatMul_ref(pool, w.w, x.data(), n_tokens, y.data());
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.bytes.size()));
  state.SetItemsProcessed(state.iterations() * 2 * n_in * n_out * n_tokens);
  state.SetLabel(std::string(DTypeName(dtype)) + (simd ? std::string(" ") + MatMulSimdTargetName() : " ref") +
                 (interleaved ? " interleaved" : ""));
}

void Args(benchmark::internal::Benchmark* b) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    const int64_t n_in = (t == DType::kQ4_K || t == DType::kQ6_K) ? 768 : 576;
    for (int64_t tokens : {1, 128}) {
      b->Args({static_cast<int64_t>(t), n_in, 1536, tokens, 1});
      if (InterleavedGroupBytes(t, n_in) > 0) b->Args({static_cast<int64_t>(t), n_in, 1536, tokens, 2});
    }
    b->Args({static_cast<int64_t>(t), n_in, 1536, 1, 0});
  }
  // Prefill at the shapes of stories110m's projections (dim 768, ffn 2048): a 16-row group and a
  // tile's activations take more than L1 (F16: 39 KiB at 768, 104 KiB at 2048).
  for (DType t : {DType::kF16, DType::kQ8_0, DType::kQ4_0}) {
    b->Args({static_cast<int64_t>(t), 768, 2048, 128, 2});
    b->Args({static_cast<int64_t>(t), 2048, 768, 128, 2});
  }
  // One token against a matrix larger than the caches (2048 x 32768: 38 MB in Q4_0 and Q4_K, 134 MB
  // in F16): decode speed from memory, to set beside the read bandwidth `flotilla bench` measures.
  for (DType t : {DType::kF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    b->Args({static_cast<int64_t>(t), 2048, 32768, 1, 1});
    b->Args({static_cast<int64_t>(t), 2048, 32768, 1, 2});
  }
}

BENCHMARK(BM_MatMul)->Apply(Args)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace flotilla

BENCHMARK_MAIN();
