// The llama-family training graph in F32: a forward pass over a batch of B sequences of T tokens that
// saves the activations each backward step needs, and the backward pass into parameter gradients.
// Matches src/model's inference forward (llama: adjacent-pair RoPE; qwen2: Q/K/V biases, NEOX RoPE;
// GQA; tied or separate output) on the same weights.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
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

 private:
  struct LayerActs {
    std::vector<float> x_in, xn1, rstd1, q, k, v, probs, att, x_mid, xn2, rstd2, gate, up, h;
  };
  // Runs the layers and the final norm; leaves the normed output in xnf_.
  void ForwardBody(const ModelParams& p, const int32_t* tokens);
  // Output head and loss, in chunks of rows; with grads, also d(loss) into dxnf_ and the head's grads.
  LossSum Head(const ModelParams& p, const int32_t* targets, float scale, ModelParams* grads);
  void LayerBackward(const LayerParams& w, LayerActs& a, LayerParams& g);

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
};

}  // namespace flotilla::train
