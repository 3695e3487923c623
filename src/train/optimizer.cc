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

float AdamW::Step(ModelParams& params, ModelParams& grads, float lr) {
  std::vector<ParamTensor> p = params.Tensors(), g = grads.Tensors(), m = m_.Tensors(), v = v_.Tensors();
  double sq = 0.0;
  for (const ParamTensor& t : g) {
    for (int64_t i = 0; i < t.size; ++i) sq += static_cast<double>(t.data[i]) * t.data[i];
  }
  const float norm = static_cast<float>(std::sqrt(sq));
  const float clip = options_.grad_clip > 0 && norm > options_.grad_clip ? options_.grad_clip / norm : 1.0f;
  ++t_;
  const float b1 = options_.beta1, b2 = options_.beta2;
  const float c1 = 1.0f - static_cast<float>(std::pow(b1, static_cast<double>(t_)));
  const float c2 = 1.0f - static_cast<float>(std::pow(b2, static_cast<double>(t_)));
  for (size_t k = 0; k < p.size(); ++k) {
    const float decay = p[k].shape.size() >= 2 ? options_.weight_decay : 0.0f;
    float *w = p[k].data, *gk = g[k].data, *mk = m[k].data, *vk = v[k].data;
    for (int64_t i = 0; i < p[k].size; ++i) {
      const float gi = gk[i] * clip;
      mk[i] = b1 * mk[i] + (1.0f - b1) * gi;
      vk[i] = b2 * vk[i] + (1.0f - b2) * gi * gi;
      const float mhat = mk[i] / c1, vhat = vk[i] / c2;
      w[i] -= lr * (mhat / (std::sqrt(vhat) + options_.eps) + decay * w[i]);
    }
  }
  return norm;
}

}  // namespace flotilla::train
