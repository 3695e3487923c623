// One sequence being evaluated with a Model: its KV cache, position and scratch buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "flotilla/status.h"
#include "kernels/matmul.h"
#include "model/model.h"
#include "tensor/dtype.h"

namespace flotilla {

struct ContextOptions {
  int32_t n_ctx = 0;            // positions the KV cache holds; 0: the model's, at most 4096
  DType kv_type = DType::kF16;  // F16 (llama.cpp's default) or F32
  int32_t n_batch = 512;        // prompt tokens evaluated per forward pass
};

class Context {
 public:
  // INVALID_ARGUMENT for a KV type other than F16/F32 or a non-positive size.
  static StatusOr<std::unique_ptr<Context>> Create(const Model& model, ThreadPool& pool,
                                                   const ContextOptions& options);

  // Appends `tokens` at positions n_past().. and returns the logits ([n_vocab]) after the last one,
  // or, with all_logits, after each ([tokens.size(), n_vocab]). The span lives until the next Eval.
  // INVALID_ARGUMENT for an id outside the vocab; OUT_OF_RANGE when the context would overflow
  // (nothing is evaluated then).
  StatusOr<std::span<const float>> Eval(std::span<const int32_t> tokens, bool all_logits = false);

  int32_t n_past() const { return n_past_; }
  int32_t n_ctx() const { return n_ctx_; }
  // Forgets everything after the first n positions (n <= n_past()).
  void Truncate(int32_t n);
  const Model& model() const { return model_; }

 private:
  Context(const Model& model, ThreadPool& pool, const ContextOptions& options, int32_t n_ctx);
  // Runs n tokens (n <= n_batch) at n_past_; writes logits for rows from first_logit_row on.
  void ForwardBatch(const int32_t* tokens, int32_t n, bool all_logits, float* logits_out);
  void Attention(int layer, int32_t n, const float* q, float* out);
  void StoreKv(int layer, int32_t n, const float* k, const float* v);

  const Model& model_;
  ThreadPool& pool_;
  ContextOptions options_;
  int32_t n_ctx_;
  int32_t n_past_ = 0;
  int64_t n_embd_kv_;
  std::vector<std::vector<uint8_t>> k_cache_, v_cache_;  // per layer: [n_ctx, n_embd_kv] of kv_type
  std::vector<float> logits_;
  // Scratch of ForwardBatch, grown once to the largest batch: activations [n, width] and the
  // packed (quantized) copy of the matmul input shared by Q/K/V and by gate/up.
  struct Scratch {
    std::vector<float> x, xn, q, k, v, attn, proj, gate, up;
    PackedActs acts;
  } scratch_;
};

}  // namespace flotilla
