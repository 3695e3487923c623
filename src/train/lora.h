// LoRA (Hu et al. 2021) for the training engine: low-rank adapters on chosen linear layers of a
// frozen base model. An adapted linear layer computes
//   y = W x + scale * B (A x),   A: [r, in], B: [out, r], scale = alpha / r,
// with A random (PEFT's Kaiming-uniform: U(-1/sqrt(in), 1/sqrt(in))) and B zero, so training starts
// from the base model exactly. Only A and B are trained (TrainGraph::ForwardBackwardLora computes no
// base gradient; LoraAdamW keeps moments for the adapters only).
//
// Targets are named as llama.cpp names the matrices (model/lora.h kLoraModuleNames): attn_q, attn_k,
// attn_v, attn_output, ffn_gate, ffn_up, ffn_down. The default is the four attention projections
// (attn_q,attn_k,attn_v,attn_output); alpha defaults to 2 * rank (scale 2).
//
// Files: SaveLoraAdapter writes llama.cpp's adapter GGUF (format in model/lora.h), which
// `flotilla run --lora` and llama.cpp's --lora read; MergeLora folds the adapters into the base
// params (for a merged GGUF). A LoRA training checkpoint is the adapter file plus the AdamW moments
// ("optim.m.<tensor>", "optim.v.<tensor>") and the flotilla.train.* step metadata; the base is not
// stored (resume with the same -m).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"
#include "gguf/gguf.h"
#include "model/lora.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/params.h"

namespace flotilla::train {

// Index into kLoraModuleNames.
enum class LoraTarget : int { kAttnQ, kAttnK, kAttnV, kAttnOutput, kFfnGate, kFfnUp, kFfnDown };

struct LoraOptions {
  int32_t rank = 8;
  float alpha = 0.0f;  // 0: 2 * rank
  std::vector<LoraTarget> targets = {LoraTarget::kAttnQ, LoraTarget::kAttnK, LoraTarget::kAttnV,
                                     LoraTarget::kAttnOutput};
};

// "attn_q,attn_v" -> targets. INVALID_ARGUMENT naming an unknown or repeated target (and listing
// the valid ones) or an empty list.
StatusOr<std::vector<LoraTarget>> ParseLoraTargets(std::string_view list);
std::string LoraTargetsString(const std::vector<LoraTarget>& targets);  // "attn_q,attn_v"

// One adapter: a [r, in] and b [out, r], row-major. Both empty when the module is not adapted.
struct LoraPair {
  std::vector<float> a, b;
  bool empty() const { return a.empty(); }
};

struct LoraParams {
  ModelConfig config;   // the base model's
  int32_t rank = 0;
  float alpha = 0.0f;   // the resolved alpha (never 0 here)
  std::vector<std::array<LoraPair, kNumLoraModules>> layers;  // [n_layer][module]

  float scale() const { return LoraScale(1.0f, alpha, rank); }
  const LoraPair& at(size_t layer, LoraTarget t) const { return layers[layer][static_cast<int>(t)]; }
  LoraPair& at(size_t layer, LoraTarget t) { return layers[layer][static_cast<int>(t)]; }
  std::vector<LoraTarget> targets() const;

  // Every adapter tensor in file order: "blk.L.<module>.weight.lora_a" (ggml shape [in, r]) then
  // ".lora_b" ([r, out]), by layer, then module.
  std::vector<ParamTensor> Tensors();
  int64_t NumParams();
  static LoraParams ZerosLike(const LoraParams& p);
  void SetZero();
};

// Adapters for a model of `config`: A random from `seed`, B zero. INVALID_ARGUMENT when rank <= 0,
// rank exceeds the smallest in/out width of a target, or there are no targets.
StatusOr<LoraParams> InitLora(const ModelConfig& config, const LoraOptions& options, uint64_t seed);

// base.W += scale * B · A for every adapter (model/lora.h MergeLoraDelta).
void MergeLora(const LoraParams& lora, ModelParams& base);

// Writes the adapter in llama.cpp's format (F32 tensors) to `path`, atomically.
Status SaveLoraAdapter(LoraParams& lora, const std::string& path);
// Reads an adapter (any readable dtype) for a model of `config`: INVALID_ARGUMENT naming the file
// when it does not fit the model (model/lora.h ValidateLoraAdapter) or mixes ranks.
StatusOr<LoraParams> LoadLoraAdapter(const gguf::File& file, const ModelConfig& config);

// AdamW over the adapter tensors only (same update, clipping and options as AdamW; weight decay on
// A and B).
class LoraAdamW {
 public:
  LoraAdamW(const LoraParams& params, const AdamWOptions& options);
  // Clips grads in place, updates params; returns the gradient norm before clipping.
  float Step(LoraParams& params, LoraParams& grads, float lr);
  int64_t t() const { return t_; }
  void set_t(int64_t t) { t_ = t; }
  LoraParams& m() { return m_; }
  LoraParams& v() { return v_; }

 private:
  AdamWOptions options_;
  LoraParams m_, v_;
  int64_t t_ = 0;
};

Status SaveLoraCheckpoint(LoraParams& lora, LoraAdamW& optimizer, const CheckpointMeta& meta,
                          const std::string& path);
struct LoadedLoraCheckpoint {
  LoraParams lora, m, v;
  CheckpointMeta meta;
};
// INVALID_ARGUMENT naming the file when it is not a LoRA training checkpoint for `config`.
StatusOr<LoadedLoraCheckpoint> LoadLoraCheckpoint(const gguf::File& file, const ModelConfig& config);

}  // namespace flotilla::train
