// The scalar reference MatMul: the oracle for the SIMD kernels.
#include "kernels/matmul.h"

#include <vector>

#include "flotilla/check.h"
#include "kernels/ops.h"
#include "tensor/traits.h"

namespace flotilla {

void MatMul_ref(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y) {
  const int64_t n_in = w.row_len(), n_out = w.n_rows();
  // Round the activations through the dot-product partner type: x -> xq -> xr.
  const DType dot_type = VecDotType(w.dtype);
  std::vector<float> rounded;
  const float* xr = x;
  if (dot_type != DType::kF32) {
    const DTypeTraits& t = GetTraits(dot_type);
    CHECK(t.quantize_row != nullptr && t.dequantize_row != nullptr);
    rounded.resize(static_cast<size_t>(n_tokens * n_in));
    std::vector<uint8_t> q(static_cast<size_t>(n_in / t.block_size * t.block_bytes));
    for (int64_t tok = 0; tok < n_tokens; ++tok) {
      t.quantize_row(x + tok * n_in, q.data(), n_in);
      t.dequantize_row(q.data(), rounded.data() + tok * n_in, n_in);
    }
    xr = rounded.data();
  }
  pool.ParallelFor(n_out, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(n_in));
    for (int64_t r = begin; r < end; ++r) {
      GetRow(w, r, row.data());
      for (int64_t tok = 0; tok < n_tokens; ++tok) {
        y[tok * n_out + r] = DotF32(row.data(), xr + tok * n_in, n_in);
      }
    }
  });
}

}  // namespace flotilla
