// The F32 master weights of a llama-family model being trained, and tensors of the same shapes
// (gradients, AdamW moments). Created from a config (random init), or loaded from a GGUF file
// (dequantized), and written back as a GGUF that the inference loader (src/model) reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flotilla/status.h"
#include "gguf/gguf.h"
#include "model/config.h"
#include "tokenizer/vocab.h"

namespace flotilla::train {

struct LayerParams {
  std::vector<float> attn_norm;      // [d]
  std::vector<float> wq, wk, wv;     // [d | dkv, d]
  std::vector<float> bq, bk, bv;     // qwen2 only: [d | dkv]
  std::vector<float> wo;             // [d, d]
  std::vector<float> ffn_norm;       // [d]
  std::vector<float> ffn_gate, ffn_up;  // [ff, d]
  std::vector<float> ffn_down;       // [d, ff]
};

// One trainable tensor: its GGUF name, ggml shape (shape[0] = row length) and data.
struct ParamTensor {
  std::string name;
  std::vector<int64_t> shape;
  float* data;
  int64_t size;
};

struct ModelParams {
  ModelConfig config;
  std::vector<float> token_embd;   // [n_vocab, d]
  std::vector<LayerParams> layers;
  std::vector<float> output_norm;  // [d]
  std::vector<float> output;       // [n_vocab, d]; empty when config.tied_output
  std::vector<float> rope_freqs;   // [n_rot / 2] or empty; a constant, not trained

  // Every trainable tensor in a fixed order (the order of the GGUF file).
  std::vector<ParamTensor> Tensors();
  int64_t NumParams();
  // The same shapes, all zero (gradients, optimizer moments).
  static ModelParams ZerosLike(const ModelParams& p);
  void SetZero();
};

// Zeros of the config's shapes.
ModelParams AllocateParams(const ModelConfig& config);
// GPT-2/llm.c-style init: matrices ~ N(0, 0.02^2), the two projections back into the residual
// stream (attn_output, ffn_down) scaled by 1/sqrt(2 n_layer); norm weights 1, biases 0.
ModelParams RandomParams(const ModelConfig& config, uint64_t seed);
// Reads config and weights from a llama/qwen2 GGUF of any readable dtype.
StatusOr<ModelParams> LoadParams(const gguf::File& file);
// Copies `src` tensor values into the tensors of the same name in `dst`; INVALID_ARGUMENT when a name
// is missing or sizes differ.
Status CopyTensorsFromGguf(const gguf::File& file, ModelParams& dst, const std::string& prefix = "");

// Adds the params to `writer` (F32 tensors named as llama.cpp names them, prefixed with `prefix`).
// The params must outlive the writer's WriteFile.
Status AddParamTensors(ModelParams& params, gguf::Writer& writer, const std::string& prefix = "");
// Writes a complete model GGUF: config, vocab (and chat template, when not empty), F32 weights.
Status SaveModelGguf(ModelParams& params, const Vocab& vocab, const std::string& chat_template,
                     const std::string& path);

}  // namespace flotilla::train
