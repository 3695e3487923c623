#include "train/optimizer.h"

#include <cmath>
#include <numbers>

namespace flotilla::train {

float LearningRate(const ScheduleOptions& s, int64_t step) {
  if (s.warmup_steps > 0 && step <= s.warmup_steps) {
    return s.lr * static_cast<float>(step) / static_cast<float>(s.warmup_steps);
  }
  const float min_lr = s.lr * s.min_lr_ratio;
  const int64_t decay = s.total_steps - s.warmup_steps;
  if (decay <= 0) return s.lr;
  const double progress = std::min(1.0, static_cast<double>(step - s.warmup_steps) / static_cast<double>(decay));
  const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return static_cast<float>(min_lr + (s.lr - min_lr) * cosine);
}

AdamW::AdamW(const ModelParams& params, const AdamWOptions& options)
    : options_(options), m_(ModelParams::ZerosLike(params)), v_(ModelParams::ZerosLike(params)) {}

float AdamWUpdate(const AdamWOptions& options, int64_t t, std::vector<ParamTensor>& p, std::vector<ParamTensor>& g,
                  std::vector<ParamTensor>& m, std::vector<ParamTensor>& v, float lr) {
  double sq = 0.0;
  for (const ParamTensor& x : g) {
    for (int64_t i = 0; i < x.size; ++i) sq += static_cast<double>(x.data[i]) * x.data[i];
  }
  const float norm = static_cast<float>(std::sqrt(sq));
  const float clip = options.grad_clip > 0 && norm > options.grad_clip ? options.grad_clip / norm : 1.0f;
  const float b1 = options.beta1, b2 = options.beta2;
  const float c1 = 1.0f - static_cast<float>(std::pow(b1, static_cast<double>(t)));
  const float c2 = 1.0f - static_cast<float>(std::pow(b2, static_cast<double>(t)));
  for (size_t k = 0; k < p.size(); ++k) {
    const float decay = p[k].shape.size() >= 2 ? options.weight_decay : 0.0f;
    float *w = p[k].data, *gk = g[k].data, *mk = m[k].data, *vk = v[k].data;
    for (int64_t i = 0; i < p[k].size; ++i) {
      const float gi = gk[i] * clip;
      mk[i] = b1 * mk[i] + (1.0f - b1) * gi;
      vk[i] = b2 * vk[i] + (1.0f - b2) * gi * gi;
      const float mhat = mk[i] / c1, vhat = vk[i] / c2;
      w[i] -= lr * (mhat / (std::sqrt(vhat) + options.eps) + decay * w[i]);
    }
  }
  return norm;
}

float AdamW::Step(ModelParams& params, ModelParams& grads, float lr) {
  std::vector<ParamTensor> p = params.Tensors(), g = grads.Tensors(), m = m_.Tensors(), v = v_.Tensors();
  ++t_;
  return AdamWUpdate(options_, t_, p, g, m, v, lr);
}

}  // namespace flotilla::train
