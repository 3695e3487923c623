// AdamW over ModelParams with global-norm gradient clipping, and the learning-rate schedule
// (linear warm-up, then cosine decay to a floor).
#pragma once

#include <cstdint>

#include "train/params.h"

namespace flotilla::train {

struct ScheduleOptions {
  float lr = 1e-3f;            // peak learning rate
  int64_t warmup_steps = 0;    // linear from lr / warmup_steps up to lr
  int64_t total_steps = 1;     // cosine from lr at warmup_steps down to min_lr at total_steps
  float min_lr_ratio = 0.1f;   // min_lr = lr * min_lr_ratio
};
// The learning rate of 1-based step `step`.
float LearningRate(const ScheduleOptions& s, int64_t step);

struct AdamWOptions {
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float weight_decay = 0.1f;  // decoupled; applied to matrices only (not norm weights or biases)
  float grad_clip = 1.0f;     // clip the global gradient L2 norm to this; <= 0: no clipping
};

// The AdamW update over matching tensor lists (params, grads, first and second moments), as update
// number t (1-based): clips grads in place to the global norm, applies weight decay to tensors of 2+
// dimensions. Returns the gradient norm before clipping.
float AdamWUpdate(const AdamWOptions& options, int64_t t, std::vector<ParamTensor>& params,
                  std::vector<ParamTensor>& grads, std::vector<ParamTensor>& m, std::vector<ParamTensor>& v, float lr);

class AdamW {
 public:
  AdamW(const ModelParams& params, const AdamWOptions& options);

  // One update of `params` with `grads` at learning rate lr; clips grads in place first. Returns the
  // gradient norm before clipping.
  float Step(ModelParams& params, ModelParams& grads, float lr);

  int64_t t() const { return t_; }
  void set_t(int64_t t) { t_ = t; }
  ModelParams& m() { return m_; }  // first moments, shaped like the params
  ModelParams& v() { return v_; }  // second moments

 private:
  AdamWOptions options_;
  ModelParams m_, v_;
  int64_t t_ = 0;  // updates done
};

}  // namespace flotilla::train
