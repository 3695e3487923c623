#include "model/context.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "tensor/fp16.h"

namespace flotilla {
namespace {

constexpr int32_t kDefaultMaxCtx = 4096;

inline float RoundF16(float x) { return FP16ToFP32(FP32ToFP16(x)); }

}  // namespace

StatusOr<std::unique_ptr<Context>> Context::Create(const Model& model, ThreadPool& pool,
                                                   const ContextOptions& options) {
  if (options.kv_type != DType::kF16 && options.kv_type != DType::kF32) {
    return InvalidArgumentError("KV cache type must be f16 or f32, not " +
                                std::string(DTypeName(options.kv_type)));
  }
  if (options.n_ctx < 0 || options.n_batch <= 0) {
    return InvalidArgumentError("context size and batch size must be positive");
  }
  int32_t n_ctx = options.n_ctx > 0 ? options.n_ctx : std::min(model.config().n_ctx_train, kDefaultMaxCtx);
  return std::unique_ptr<Context>(new Context(model, pool, options, n_ctx));
}

Context::Context(const Model& model, ThreadPool& pool, const ContextOptions& options, int32_t n_ctx)
    : model_(model), pool_(pool), options_(options), n_ctx_(n_ctx) {
  const ModelConfig& c = model.config();
  n_embd_kv_ = int64_t{c.n_head_kv} * c.head_dim();
  const size_t bytes = static_cast<size_t>(n_ctx_) * n_embd_kv_ * (options.kv_type == DType::kF16 ? 2 : 4);
  k_cache_.assign(c.n_layer, std::vector<uint8_t>(bytes));
  v_cache_.assign(c.n_layer, std::vector<uint8_t>(bytes));
}

void Context::Truncate(int32_t n) { n_past_ = std::clamp(n, 0, n_past_); }

StatusOr<std::span<const float>> Context::Eval(std::span<const int32_t> tokens, bool all_logits) {
  const int32_t n_vocab = model_.config().n_vocab;
  if (tokens.empty()) return InvalidArgumentError("no tokens to evaluate");
  for (int32_t id : tokens) {
    if (id < 0 || id >= n_vocab) {
      return InvalidArgumentError("token id " + std::to_string(id) + " is outside the vocab of " +
                                  std::to_string(n_vocab));
    }
  }
  if (static_cast<int64_t>(n_past_) + static_cast<int64_t>(tokens.size()) > n_ctx_) {
    return OutOfRangeError("context is full: " + std::to_string(n_past_) + " + " +
                           std::to_string(tokens.size()) + " tokens exceed the context size " +
                           std::to_string(n_ctx_));
  }
  const int32_t n = static_cast<int32_t>(tokens.size());
  logits_.resize(static_cast<size_t>(all_logits ? n : 1) * n_vocab);
  for (int32_t start = 0; start < n; start += options_.n_batch) {
    const int32_t len = std::min(options_.n_batch, n - start);
    const bool last = start + len == n;
    float* out = all_logits ? logits_.data() + static_cast<size_t>(start) * n_vocab : logits_.data();
    ForwardBatch(tokens.data() + start, len, all_logits, all_logits || last ? out : nullptr);
  }
  return std::span<const float>(logits_);
}

void Context::StoreKv(int layer, int32_t n, const float* k, const float* v) {
  const size_t count = static_cast<size_t>(n) * n_embd_kv_;
  const size_t offset = static_cast<size_t>(n_past_) * n_embd_kv_;
  if (options_.kv_type == DType::kF32) {
    std::memcpy(reinterpret_cast<float*>(k_cache_[layer].data()) + offset, k, count * sizeof(float));
    std::memcpy(reinterpret_cast<float*>(v_cache_[layer].data()) + offset, v, count * sizeof(float));
    return;
  }
  uint16_t* kc = reinterpret_cast<uint16_t*>(k_cache_[layer].data()) + offset;
  uint16_t* vc = reinterpret_cast<uint16_t*>(v_cache_[layer].data()) + offset;
  for (size_t i = 0; i < count; ++i) {
    kc[i] = FP32ToFP16(k[i]);
    vc[i] = FP32ToFP16(v[i]);
  }
}

// q: [n, n_embd] (roped), out: [n, n_embd]. Token i attends to cache positions 0..n_past_ + i.
// With an F16 cache, q and the attention weights are rounded to F16 as llama.cpp's products do.
void Context::Attention(int layer, int32_t n, const float* q, float* out) {
  const ModelConfig& c = model_.config();
  const int32_t head_dim = c.head_dim(), group = c.n_head / c.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const bool f16 = options_.kv_type == DType::kF16;
  const size_t elem = f16 ? 2 : 4;
  const uint8_t* kc = k_cache_[layer].data();
  const uint8_t* vc = v_cache_[layer].data();
  pool_.ParallelFor(static_cast<int64_t>(n) * c.n_head, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(n_past_ + n)), qh(static_cast<size_t>(head_dim));
    for (int64_t job = begin; job < end; ++job) {
      const int32_t i = static_cast<int32_t>(job / c.n_head), h = static_cast<int32_t>(job % c.n_head);
      const int64_t kv_off = static_cast<int64_t>(h / group) * head_dim;
      const int32_t n_keys = n_past_ + i + 1;
      for (int32_t d = 0; d < head_dim; ++d) {
        const float x = q[static_cast<int64_t>(i) * c.n_embd + h * head_dim + d];
        qh[d] = f16 ? RoundF16(x) : x;
      }
      AttnScores(qh.data(), kc + kv_off * elem, n_embd_kv_, n_keys, head_dim, scale, f16, scores.data());
      Softmax(scores.data(), n_keys);
      if (f16) {
        for (int32_t p = 0; p < n_keys; ++p) scores[p] = RoundF16(scores[p]);
      }
      float* o = out + static_cast<int64_t>(i) * c.n_embd + h * head_dim;
      AttnWeightedSum(scores.data(), vc + kv_off * elem, n_embd_kv_, n_keys, head_dim, f16, o);
    }
  });
}

}  // namespace flotilla
