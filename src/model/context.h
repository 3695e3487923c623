// Sequences being evaluated with a Model: Context is one sequence (its KV cache, position and
// scratch buffers); Batch evaluates spans of several Contexts in one forward pass, every matrix
// product taking the rows of all of them at once while attention runs per sequence on its own cache.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "base/huge_page_buffer.h"
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

// What a forward pass returns for a span of tokens.
enum class EvalOutput {
  kLastLogits,  // logits after the last token: [n_vocab]
  kAllLogits,   // logits after each token: [n, n_vocab]
  kHidden,      // final hidden state of each token after the output norm (no head): [n, n_embd]
  kNone,        // nothing (a prompt chunk before the last one)
};

class Context;

// Scratch of a forward pass, grown to the largest one: activations [rows, width] and the packed
// (quantized) copy of the matmul input shared by Q/K/V and by gate/up.
struct ForwardScratch {
  std::vector<float> x, xn, q, k, v, attn, proj, gate, up;
  PackedActs acts;
  std::vector<Context*> row_ctx;     // [rows]: the sequence of each row of the pass
  std::vector<int32_t> row_pos;         // [rows]: its position in that sequence
  std::vector<float> row_angles;        // [rows, n_rot]: RoPE cos, sin pairs at that position
};

// Grows the activation buffers of `s` to hold `rows` token rows of a model of shape `c` (llama.cc).
void ReserveForwardScratch(const ModelConfig& c, int32_t rows, ForwardScratch* s);

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
  // As Eval, but returns the final hidden states after the output norm, [tokens.size(), n_embd]
  // (what embeddings pool). The span lives until the next Eval/EvalHidden.
  StatusOr<std::span<const float>> EvalHidden(std::span<const int32_t> tokens);

  int32_t n_past() const { return n_past_; }
  int32_t n_ctx() const { return n_ctx_; }
  int32_t n_batch() const { return options_.n_batch; }
  // The options with the context size resolved (to create more contexts like this one).
  ContextOptions options() const {
    ContextOptions o = options_;
    o.n_ctx = n_ctx_;
    return o;
  }
  // Forgets everything after the first n positions (n <= n_past()).
  void Truncate(int32_t n);
  const Model& model() const { return model_; }

  // INVALID_ARGUMENT for an empty span or an id outside the vocab; OUT_OF_RANGE when appending
  // `tokens` would overflow the context.
  Status CheckAppend(std::span<const int32_t> tokens) const;

 private:
  friend class Batch;
  // One sequence's rows in a forward pass: tokens appended at ctx->n_past_.
  struct Segment {
    Context* ctx;
    const int32_t* tokens;
    int32_t n;
    EvalOutput output;
  };

  Context(const Model& model, ThreadPool& pool, const ContextOptions& options, int32_t n_ctx, HugePageBuffer kv);
  // Bytes of one layer's K and V caches (each rounded up to whole cache lines).
  static size_t KeyCacheBytes(const ModelConfig& c, const ContextOptions& options, int32_t n_ctx);
  static size_t ValueCacheBytes(const ModelConfig& c, const ContextOptions& options, int32_t n_ctx);
  uint8_t* k_cache(int layer) const { return kv_.data() + static_cast<size_t>(layer) * (k_bytes_ + v_bytes_); }
  uint8_t* v_cache(int layer) const { return k_cache(layer) + k_bytes_; }
  StatusOr<std::span<const float>> EvalChunked(std::span<const int32_t> tokens, EvalOutput output);
  // One forward pass over the rows of all segments (llama.cc). Logit rows of the segments go to
  // logits_out ([rows, n_vocab], in segment order), hidden rows to hidden_out ([rows, n_embd]).
  // Advances each segment's context by its n.
  static void Forward(const Model& model, ThreadPool& pool, std::span<const Segment> segs, ForwardScratch& s,
                      float* logits_out, float* hidden_out);
  // q: [rows, n_embd] of all segments; out: [rows, n_embd]. Each row attends to its own cache.
  // With `prepare`, each work item first calls it on its rows (in the pass) and key/value heads, which
  // must then hold every row of their segment (AttentionItemsHoldWholeSegments): the item stores the
  // keys it reads, so no item reads keys another stores.
  using PrepareRows = std::function<void(int32_t row0, int32_t n, int32_t kv_head0, int32_t kv_head1)>;
  static void Attention(ThreadPool& pool, int layer, std::span<const Segment> segs, int32_t rows, const float* q,
                        float* out, const PrepareRows* prepare = nullptr);
  // True when every segment's rows fit one Attention work item (decoding: one row each).
  static bool AttentionItemsHoldWholeSegments(std::span<const Segment> segs);
  // Writes key/value heads [h0, h1) of one row's K and V (k, v: [n_embd_kv]) at position pos of
  // layer's cache.
  void StoreKvRow(int layer, int32_t pos, const float* k, const float* v, int32_t h0, int32_t h1);

  const Model& model_;
  ThreadPool& pool_;
  ContextOptions options_;
  int32_t n_ctx_;
  int32_t n_past_ = 0;
  int64_t n_embd_kv_;
  int64_t kt_tile_stride_;  // elements per key tile: n_embd_kv * kAttnKeyTile
  // Per layer, of kv_type: keys in tiles of kAttnKeyTile positions, [n_ctx / kAttnKeyTile rounded up]
  // [n_embd_kv][kAttnKeyTile] (kernels/attention.h; head h's dimension d is row h * head_dim + d of
  // a tile), then values by position, [n_ctx][n_embd_kv]. On huge pages. A key's store writes a line
  // in each of n_embd_kv rows of one tile (16 KiB to 96 KiB), and a prompt touches only its own tiles
  // (transposed whole, its first key alone touched every page of the keys).
  size_t k_bytes_, v_bytes_;
  HugePageBuffer kv_;
  std::vector<float> logits_;
  ForwardScratch scratch_;
};

// Spans of several sequences (Contexts of one model) evaluated in one forward pass. Add the spans,
// Eval, read each one's output, Clear, repeat. The caller keeps the total rows reasonable (a prompt
// is best added in chunks of n_batch).
class Batch {
 public:
  Batch(const Model& model, ThreadPool& pool) : model_(model), pool_(pool) {}

  // Queues `tokens` to append to `ctx` (a context of this model, at most once per pass); returns
  // the entry's index. The tokens must stay alive until Eval.
  int Add(Context& ctx, std::span<const int32_t> tokens, EvalOutput output = EvalOutput::kLastLogits);
  // Runs the pass over every queued entry. On an invalid entry (as Context::CheckAppend, a context
  // of another model, or one context twice) returns its error and evaluates nothing.
  Status Eval();
  // Entry i's output of the last Eval (shapes as EvalOutput says); valid until the next Eval.
  std::span<const float> output(int i) const;
  void Clear() { segs_.clear(); }
  int size() const { return static_cast<int>(segs_.size()); }
  int64_t rows() const;  // tokens queued

  // Totals over this Batch's life: passes run and token rows they evaluated.
  int64_t n_passes() const { return n_passes_; }
  int64_t n_rows_evaluated() const { return n_rows_evaluated_; }

 private:
  const Model& model_;
  ThreadPool& pool_;
  std::vector<Context::Segment> segs_;
  std::vector<size_t> out_offset_, out_size_;  // into logits_ or hidden_, per entry
  std::vector<bool> out_hidden_;
  std::vector<float> logits_, hidden_;
  ForwardScratch scratch_;
  int64_t n_passes_ = 0, n_rows_evaluated_ = 0;
};

}  // namespace flotilla
