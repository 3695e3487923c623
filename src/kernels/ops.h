// Element-wise and row operations of the llama-family forward pass: scalar reference versions
// (ops.cc) and dispatched SIMD versions for the inference hot path (ops_simd.cc). All vectors are
// contiguous float arrays; `n` counts elements.
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
// Equals RopeAngles followed by RopeWithAngles.
void Rope(float* x, int32_t n_heads, int32_t head_dim, int64_t pos, const RopeParams& p);

// The rotation of position `pos`, shared by every head (and by Q and K): cs[2i] = cos(angle_i),
// cs[2i + 1] = sin(angle_i) for i < n_rot / 2 (n_rot = p.n_rot, or head_dim when 0). cs: [n_rot].
void RopeAngles(int32_t head_dim, int64_t pos, const RopeParams& p, float* cs);
// Rotates the n_heads heads of x ([n_heads, head_dim]) by the angles of RopeAngles.
void RopeWithAngles(float* x, int32_t n_heads, int32_t head_dim, const float* cs, const RopeParams& p);

// ---- SIMD versions (ops_simd.cc, dispatched). They equal the scalar ones above up to float
// rounding: sums are reordered (RmsNorm and Softmax still accumulate in double) and exp is a
// polynomial with 1 ulp of error.

// If add is not null, x[i] += add[i] first (x is updated); then out = RmsNorm(x, weight).
// out must not alias x or add.
void AddRmsNormSimd(float* x, const float* add, const float* weight, int64_t n, float eps, float* out);

// out[i] = silu(gate[i]) * up[i]; out may alias gate.
void SwiGluSimd(const float* gate, const float* up, int64_t n, float* out);

// In-place softmax over x[0..n).
void SoftmaxSimd(float* x, int64_t n);

// x[i] += y[i].
void AddInPlaceSimd(float* x, const float* y, int64_t n);

// out[i] = FP32ToFP16(x[i]) (tensor/fp16.h), bit for bit: F16C conversions where the CPU has them.
void ConvertToF16Simd(const float* x, int64_t n, uint16_t* out);

}  // namespace flotilla
