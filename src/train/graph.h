// The llama-family training graph in F32: a forward pass over a batch of B sequences of T tokens that
// saves the activations each backward step needs, and the backward pass into parameter gradients.
// Matches src/model's inference forward (llama: adjacent-pair RoPE; qwen2: Q/K/V biases, NEOX RoPE;
// GQA; tied or separate output) on the same weights.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "train/lora.h"
#include "train/ops.h"
#include "train/params.h"

namespace flotilla::train {

struct LossSum {
  double sum = 0.0;   // summed cross-entropy (nats) of the counted targets
  int64_t count = 0;  // targets counted (target >= 0)
  double mean() const { return count > 0 ? sum / static_cast<double>(count) : 0.0; }
};

class TrainGraph {
 public:
  // Buffers for batch x seq tokens of a model shaped `config`; rope_freqs: Llama 3 factors or empty.
  TrainGraph(const ModelConfig& config, int64_t batch, int64_t seq, ThreadPool& pool,
             const std::vector<float>& rope_freqs);

  int64_t batch() const { return batch_; }
  int64_t seq() const { return seq_; }

  // tokens, targets: [batch, seq]; targets < 0 are not counted. Token ids must be in the vocab.
  LossSum Forward(const ModelParams& p, const int32_t* tokens, const int32_t* targets);
  // Forward, then grads += scale * d(loss.sum)/d(params). grads must be shaped like p.
  LossSum ForwardBackward(const ModelParams& p, const int32_t* tokens, const int32_t* targets, float scale,
                          ModelParams& grads);

  // The body without the language-model head, for other heads (classification, distillation):
  // returns the final-normed hidden states [batch * seq, n_embd], valid until the next call.
  const float* ForwardHidden(const ModelParams& p, const int32_t* tokens);
  // After ForwardHidden(p, tokens): grads += d(loss)/d(params) for a loss whose gradient with respect
  // to those hidden states is dhidden ([batch * seq, n_embd]). The output head's grads are untouched.
  void BackwardHidden(const ModelParams& p, const int32_t* tokens, const float* dhidden, ModelParams& grads);

  // LoRA (train/lora.h): the same passes with `lora`'s adapters added to the base's linear layers
  // (y = W x + scale * B A x). The base is frozen: the backward passes add scale * d(loss)/d(A, B)
  // into lora_grads (shaped like lora) and compute no base gradient. `lora` must be for p's config
  // and outlive the backward pass that follows a forward.
  LossSum Forward(const ModelParams& p, const LoraParams& lora, const int32_t* tokens, const int32_t* targets);
  LossSum ForwardBackwardLora(const ModelParams& p, const LoraParams& lora, const int32_t* tokens,
                              const int32_t* targets, float scale, LoraParams& lora_grads);
  const float* ForwardHidden(const ModelParams& p, const LoraParams& lora, const int32_t* tokens);
  // After ForwardHidden(p, lora, tokens).
  void BackwardHiddenLora(const ModelParams& p, const LoraParams& lora, const int32_t* tokens, const float* dhidden,
                          LoraParams& lora_grads);

 private:
  struct LayerActs {
    std::vector<float> x_in, xn1, rstd1, q, k, v, probs, att, x_mid, xn2, rstd2, gate, up, h;
  };
  // Runs the layers and the final norm; leaves the normed output in xnf_.
  void ForwardBody(const ModelParams& p, const int32_t* tokens);
  // Output head and loss, in chunks of rows; with backward, also d(loss) into dxn_, and the head's
  // grads when grads is not null.
  LossSum Head(const ModelParams& p, const int32_t* targets, float scale, bool backward, ModelParams* grads);
  // From dxn_ = d(loss)/d(final-normed hidden) back to every body parameter (grads; null when the
  // base is frozen) and adapter (lora_grads_, when lora_ is set).
  void BodyBackward(const ModelParams& p, const int32_t* tokens, ModelParams* grads);
  void LayerBackward(size_t layer, const LayerParams& w, LayerActs& a, LayerParams* g);
  // y ([n, out]) += the adapter of module t in `layer` applied to x ([n, in]); saves scale * x A^T.
  // Nothing without an adapter there.
  void LoraForward(size_t layer, LoraTarget t, const float* x, float* y);
  // For y = ... + adapter(x): lora_grads_ += its A and B gradients from dy, and dx += dy's share
  // through the adapter.
  void LoraBackward(size_t layer, LoraTarget t, const float* dy, const float* x, float* dx);

  ModelConfig c_;
  int64_t batch_, seq_, n_;  // n_ = batch * seq rows
  int64_t d_, dkv_, ff_;
  ThreadPool& pool_;
  RopeTable rope_;
  AttnShape attn_shape_;
  std::vector<LayerActs> acts_;
  std::vector<float> x_out_, xnf_, rstdf_;
  // Backward scratch: the residual gradient and per-op gradients.
  std::vector<float> dx_, dxn_, datt_, dq_, dk_, dv_, dh_, dgate_, dup_;
  std::vector<float> logits_, w_t_, scratch_;
  // LoRA: the adapters of the current pass (null: none), their gradients during a backward pass,
  // scale * x A^T of each adapted module ([layer * kNumLoraModules + module], [n, r] each), and
  // the [n, r] gradient scratch.
  const LoraParams* lora_ = nullptr;
  LoraParams* lora_grads_ = nullptr;
  std::vector<std::vector<float>> lora_u_;
  std::vector<float> lora_g_;
};

}  // namespace flotilla::train
