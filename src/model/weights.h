// The tensors of a llama-family model, checked against the config and viewed in place in the
// mapped GGUF file. Small vectors (norm weights, biases, RoPE factors) are converted to F32 copies.
#pragma once

#include <vector>

#include "base/huge_page_buffer.h"
#include "flotilla/status.h"
#include "gguf/gguf.h"
#include "model/config.h"
#include "tensor/tensor_view.h"

namespace flotilla {

struct LayerWeights {
  std::vector<float> attn_norm;          // [n_embd]
  TensorView wq, wk, wv, wo;             // [n_embd | n_embd_kv rows, n_embd]
  std::vector<float> bq, bk, bv;         // qwen2 biases, empty for llama
  std::vector<float> ffn_norm;           // [n_embd]
  TensorView ffn_gate, ffn_up;           // [n_ff, n_embd]
  TensorView ffn_down;                   // [n_embd, n_ff]
};

struct ModelWeights {
  TensorView token_embd;                 // [n_vocab, n_embd]
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm;        // [n_embd]
  TensorView output;                     // [n_vocab, n_embd]; token_embd when tied
  std::vector<float> rope_freqs;         // [n_rot / 2] Llama 3 frequency divisors, or empty
};

// INVALID_ARGUMENT naming the tensor when one is missing, has the wrong shape, or has a dtype that
// flotilla cannot compute with.
StatusOr<ModelWeights> LoadWeights(const gguf::File& file, const ModelConfig& config);

// Gives every matrix of `w` that has an interleaved layout (kernels/repack.h) its interleaved copy
// (TensorView::rows16), stored in `storage`, when this CPU's kernels read it; otherwise does nothing.
// The copied rows' pages of `file` (where the views point) are released, so memory holds the model
// about once, except the token embedding's, which a tied output head shares: lookups read its rows.
// `storage` must outlive the views. RESOURCE_EXHAUSTED when the copy cannot be allocated
// (the weights are then unchanged).
Status InterleaveWeights(const gguf::File& file, ModelWeights& w, HugePageBuffer& storage);

}  // namespace flotilla
