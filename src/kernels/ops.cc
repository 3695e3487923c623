#include "kernels/ops.h"

#include <cmath>
#include <vector>

namespace flotilla {

float DotF32(const float* a, const float* b, int64_t n) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += a[i + l] * b[i + l];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum + ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double sum = 0.0;  // ggml accumulates the sum of squares in double too
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void Softmax(float* x, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = x[i] > max ? x[i] : max;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void AddInPlace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void RopeAngles(int32_t head_dim, int64_t pos, const RopeParams& p, float* cs) {
  const int32_t n_rot = p.n_rot > 0 ? p.n_rot : head_dim;
  // theta_i = pos * base^(-2i/n_rot), computed by repeated multiplication as ggml does.
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = static_cast<float>(pos);
  for (int32_t i = 0; i < n_rot / 2; ++i, theta *= theta_scale) {
    const float angle = p.freq_factors ? theta / p.freq_factors[i] : theta;
    cs[2 * i] = std::cos(angle);
    cs[2 * i + 1] = std::sin(angle);
  }
}

void RopeWithAngles(float* x, int32_t n_heads, int32_t head_dim, const float* cs, const RopeParams& p) {
  const int32_t n_rot = p.n_rot > 0 ? p.n_rot : head_dim;
  for (int32_t h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int32_t i = 0; i < n_rot / 2; ++i) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const int32_t a = p.mode == RopeMode::kNorm ? 2 * i : i;
      const int32_t b = p.mode == RopeMode::kNorm ? 2 * i + 1 : i + n_rot / 2;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

void Rope(float* x, int32_t n_heads, int32_t head_dim, int64_t pos, const RopeParams& p) {
  const int32_t n_rot = p.n_rot > 0 ? p.n_rot : head_dim;
  std::vector<float> cs(static_cast<size_t>(n_rot));
  RopeAngles(head_dim, pos, p, cs.data());
  RopeWithAngles(x, n_heads, head_dim, cs.data(), p);
}

}  // namespace flotilla
