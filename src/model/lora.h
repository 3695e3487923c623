// LoRA adapters in llama.cpp's GGUF adapter format, and applying them to a loaded model's weights by
// merging (W' = W + scale * B · A) at load time.
//
// The adapter file format (as llama.cpp's src/llama-adapter.cpp reads it and its
// convert_lora_to_gguf.py writes it):
//   general.type         = "adapter"
//   general.architecture = the base model's ("llama", "qwen2"); must match the base
//   adapter.type         = "lora"
//   adapter.lora.alpha   = float32; scale = user_scale * alpha / r, or user_scale when alpha is 0
//   for each adapted base matrix named N (ggml shape [in, out], i.e. row-major [out, in]):
//     "N.lora_a"  ggml shape [in, r]   (row-major [r, in])   — PEFT's lora_A.weight
//     "N.lora_b"  ggml shape [r, out]  (row-major [out, r])  — PEFT's lora_B.weight
//   r is the rank (lora_a's shape[1]); tensors may be F32, F16, BF16 or Q8_0.
// flotilla adapts the seven per-layer matrices blk.L.{attn_q, attn_k, attn_v, attn_output, ffn_gate,
// ffn_up, ffn_down}.weight; adapters on other tensors (token_embd, output) are refused.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"
#include "gguf/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace flotilla {

// The per-layer matrices flotilla adapts, by llama.cpp's tensor names (blk.L.<name>.weight); an index
// into this array identifies a module everywhere (train/lora.h too).
inline constexpr int kNumLoraModules = 7;
inline constexpr std::array<std::string_view, kNumLoraModules> kLoraModuleNames = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
// The module's input and output widths for a model of `config` (its weight is [out, in]).
void LoraModuleShape(const ModelConfig& config, int module, int64_t* in, int64_t* out);
// The index of module `name` ("attn_q"), or -1.
int LoraModuleIndex(std::string_view name);

// One adapter to apply: `--lora PATH` is scale 1, `--lora-scaled PATH S` scale S.
struct LoraAdapterSpec {
  std::string path;
  float scale = 1.0f;
};

// w ([out, in] row-major) += scale * b · a, with a: [r, in], b: [out, r]. The one merge routine that
// both training's export and load-time application use, so the two give bit-identical weights.
void MergeLoraDelta(float* w, const float* a, const float* b, int64_t out, int64_t in, int64_t r, float scale);

// The scale of an adapter of rank r with alpha (0: none) applied at user_scale.
float LoraScale(float user_scale, float alpha, int64_t rank);

// Checks that `adapter` is a LoRA adapter file for a model of `config` (architecture, every tensor
// paired, named after a base matrix flotilla adapts, with shapes that fit it). INVALID_ARGUMENT
// naming the file and the first problem otherwise.
Status ValidateLoraAdapter(const gguf::File& adapter, const ModelConfig& config);

// Applies the adapters in order to `weights` (of a model of `config`): each adapted matrix is
// dequantized once to an F32 copy kept in `storage`, its view repointed there, and the deltas added.
// Matrices no adapter touches stay as they were (mapped). Every adapter is validated before any
// weight changes.
Status ApplyLoraAdapters(const std::vector<LoraAdapterSpec>& adapters, const ModelConfig& config,
                         ModelWeights& weights, std::vector<std::vector<float>>& storage);

}  // namespace flotilla
