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
// about once. A tied output head's table is the token embedding too: when the copy covers every row
// and can give a row back (kernels/repack.h CanRebuildRows), token_embd reads its rows from it
// (token_embd.rows16 set, EmbedToken) and the file's pages are released; else lookups keep the table.
// `storage` must outlive the views. RESOURCE_EXHAUSTED when the copy cannot be allocated
// (the weights are then unchanged).
Status InterleaveWeights(const gguf::File& file, ModelWeights& w, HugePageBuffer& storage);

// Moves the token embedding table (and a tied output head's plain rows, the same bytes) from the
// file's 4 KiB pages to a copy on huge pages in `storage` and releases the file's pages. A decoded
// token reads one row anywhere in the table: from the file's pages that costs a TLB miss, which on a
// virtual machine is tens of microseconds (30-35 us per token measured here, ~10 us from huge pages).
// When no huge-page buffer can be had, the file's pages are mapped up front instead (else a new
// token's first lookup takes a page fault). `storage` must outlive the views.
// Nothing when token_embd reads its rows from the interleaved copy (InterleaveWeights).
void MoveEmbeddingsToHugePages(const gguf::File& file, ModelWeights& w, HugePageBuffer& storage);

// x[0, n_embd) = the embedding of `token`, from token_embd's interleaved copy when it has one (the
// same floats GetRow gives from the file's layout).
void EmbedToken(const ModelWeights& w, int32_t token, float* x);

}  // namespace flotilla
