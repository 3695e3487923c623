// Element-wise and row operations of the llama-family forward pass, scalar reference versions.
// All vectors are contiguous float arrays; `n` counts elements.
#pragma once

#include <cstdint>

namespace flotilla {

// sum_i a[i] * b[i], accumulated in 8 interleaved float lanes (as SIMD code does).
float DotF32(const float* a, const float* b, int64_t n);

// out = x / sqrt(mean(x^2) + eps) * weight. out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// In-place softmax over x[0..n).
void Softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i]; out may alias gate.
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);

// x[i] += y[i].
void AddInPlace(float* x, const float* y, int64_t n);

enum class RopeMode {
  kNorm,  // rotate adjacent pairs (x[2i], x[2i+1]) — llama
  kNeox,  // rotate (x[i], x[i + d/2]) — qwen2
};

struct RopeParams {
  RopeMode mode = RopeMode::kNorm;
  int32_t n_rot = 0;                 // rotated dimensions per head (head_dim)
  float freq_base = 10000.0f;
  const float* freq_factors = nullptr;  // [n_rot / 2] divisors of the angle (Llama 3 scaling), or null
};

// Rotates each of the n_heads heads of x ([n_heads, head_dim]) for position `pos`.
void Rope(float* x, int32_t n_heads, int32_t head_dim, int64_t pos, const RopeParams& p);

}  // namespace flotilla
