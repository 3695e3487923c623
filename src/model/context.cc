#include "model/context.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "flotilla/check.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "tensor/fp16.h"

namespace flotilla {
namespace {

constexpr int32_t kDefaultMaxCtx = 4096;
constexpr size_t kCacheLine = 64;

size_t WholeLines(size_t bytes) { return (bytes + kCacheLine - 1) / kCacheLine * kCacheLine; }
// Key tiles (kernels/attention.h) that hold n_ctx positions.
int64_t KeyTiles(int32_t n_ctx) { return (int64_t{n_ctx} + kAttnKeyTile - 1) / kAttnKeyTile; }
size_t KvElemBytes(const ContextOptions& options) { return options.kv_type == DType::kF16 ? 2 : 4; }
// Rows of a segment per Attention work item: few enough that their scores (<= 64K floats) stay in cache.
int32_t AttentionBlockRows(int32_t n_keys) { return std::clamp(16384 / n_keys, 1, 16); }

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
  const ModelConfig& c = model.config();
  const int32_t n_ctx = options.n_ctx > 0 ? options.n_ctx : std::min(c.n_ctx_train, kDefaultMaxCtx);
  const size_t layer_bytes = KeyCacheBytes(c, options, n_ctx) + ValueCacheBytes(c, options, n_ctx);
  StatusOr<HugePageBuffer> kv = HugePageBuffer::Allocate(layer_bytes * static_cast<size_t>(c.n_layer));
  if (!kv.ok()) return kv.status().WithContext("KV cache of " + std::to_string(n_ctx) + " positions");
  return std::unique_ptr<Context>(new Context(model, pool, options, n_ctx, std::move(*kv)));
}

size_t Context::KeyCacheBytes(const ModelConfig& c, const ContextOptions& options, int32_t n_ctx) {
  return WholeLines(static_cast<size_t>(KeyTiles(n_ctx) * kAttnKeyTile * c.n_head_kv * c.head_dim()) *
                    KvElemBytes(options));
}

size_t Context::ValueCacheBytes(const ModelConfig& c, const ContextOptions& options, int32_t n_ctx) {
  return WholeLines(static_cast<size_t>(int64_t{n_ctx} * c.n_head_kv * c.head_dim()) * KvElemBytes(options));
}

Context::Context(const Model& model, ThreadPool& pool, const ContextOptions& options, int32_t n_ctx,
                 HugePageBuffer kv)
    : model_(model), pool_(pool), options_(options), n_ctx_(n_ctx) {
  const ModelConfig& c = model.config();
  n_embd_kv_ = int64_t{c.n_head_kv} * c.head_dim();
  kt_tile_stride_ = n_embd_kv_ * kAttnKeyTile;
  k_bytes_ = KeyCacheBytes(c, options, n_ctx_);
  v_bytes_ = ValueCacheBytes(c, options, n_ctx_);
  kv_ = std::move(kv);
  // Scratch memory is allocated once per context (a prompt chunk is at most n_batch rows), not in the
  // first forward pass.
  ReserveForwardScratch(c, std::min(options.n_batch, n_ctx_), &scratch_);
}

void Context::Truncate(int32_t n) { n_past_ = std::clamp(n, 0, n_past_); }

Status Context::CheckAppend(std::span<const int32_t> tokens) const {
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
  return Status::Ok();
}

StatusOr<std::span<const float>> Context::Eval(std::span<const int32_t> tokens, bool all_logits) {
  return EvalChunked(tokens, all_logits ? EvalOutput::kAllLogits : EvalOutput::kLastLogits);
}

StatusOr<std::span<const float>> Context::EvalHidden(std::span<const int32_t> tokens) {
  return EvalChunked(tokens, EvalOutput::kHidden);
}

// Runs `tokens` in passes of at most n_batch. Only the last pass of kLastLogits computes logits.
StatusOr<std::span<const float>> Context::EvalChunked(std::span<const int32_t> tokens, EvalOutput output) {
  RETURN_IF_ERROR(CheckAppend(tokens));
  const int32_t n = static_cast<int32_t>(tokens.size());
  const int64_t width = output == EvalOutput::kHidden ? model_.config().n_embd : model_.config().n_vocab;
  const bool every_row = output != EvalOutput::kLastLogits;
  logits_.resize(static_cast<size_t>((every_row ? n : 1) * width));
  for (int32_t start = 0; start < n; start += options_.n_batch) {
    const int32_t len = std::min(options_.n_batch, n - start);
    const bool last = start + len == n;
    float* out = every_row ? logits_.data() + static_cast<size_t>(start) * width : logits_.data();
    const Segment seg{this, tokens.data() + start, len, output};
    const bool hidden = output == EvalOutput::kHidden;
    float* wanted = every_row || last ? out : nullptr;  // no head on the earlier passes of kLastLogits
    Forward(model_, pool_, std::span<const Segment>(&seg, 1), scratch_, hidden ? nullptr : wanted,
            hidden ? out : nullptr);
  }
  return std::span<const float>(logits_);
}

void Context::StoreKvRow(int layer, int32_t pos, const float* k, const float* v, int32_t h0, int32_t h1) {
  const int64_t head_dim = model_.config().head_dim(), e0 = h0 * head_dim, e1 = h1 * head_dim;
  const size_t offset = static_cast<size_t>(pos) * n_embd_kv_;
  if (options_.kv_type == DType::kF32) {
    float* kt = reinterpret_cast<float*>(k_cache(layer)) + KeyTileIndex(pos, 0, kt_tile_stride_);
    for (int64_t i = e0; i < e1; ++i) kt[i * kAttnKeyTile] = k[i];
    std::memcpy(reinterpret_cast<float*>(v_cache(layer)) + offset + e0, v + e0, (e1 - e0) * sizeof(float));
    return;
  }
  uint16_t* kt = reinterpret_cast<uint16_t*>(k_cache(layer)) + KeyTileIndex(pos, 0, kt_tile_stride_);
  ConvertToF16Simd(v + e0, e1 - e0, reinterpret_cast<uint16_t*>(v_cache(layer)) + offset + e0);
  uint16_t half[256];  // K converted a chunk at a time, then stored down its column of the tile
  for (int64_t i0 = e0; i0 < e1; i0 += 256) {
    const int64_t m = std::min<int64_t>(256, e1 - i0);
    ConvertToF16Simd(k + i0, m, half);
    for (int64_t i = 0; i < m; ++i) kt[(i0 + i) * kAttnKeyTile] = half[i];
  }
}

bool Context::AttentionItemsHoldWholeSegments(std::span<const Segment> segs) {
  for (const Segment& seg : segs) {
    if (seg.n > AttentionBlockRows(seg.ctx->n_past_ + seg.n)) return false;
  }
  return true;
}

// q: [rows, n_embd] (roped unless `prepare` does it), out: [rows, n_embd], rows in segment order. Row
// i of a segment attends to its context's cache positions 0..n_past_ + i. Work items are (segment,
// key/value head, block of rows), each for all query heads sharing that key/value head.
void Context::Attention(ThreadPool& pool, int layer, std::span<const Segment> segs, int32_t rows, const float* q,
                        float* out, const PrepareRows* prepare) {
  const ModelConfig& c = segs[0].ctx->model_.config();
  const int32_t head_dim = c.head_dim(), group = c.n_head / c.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  CHECK(prepare == nullptr || AttentionItemsHoldWholeSegments(segs));
  struct Job {
    int32_t seg, kv_head, row0, i0, n;  // row0: first row in the pass; i0: its index in the segment
  };
  std::vector<Job> jobs;
  for (int32_t sgi = 0, r0 = 0; sgi < static_cast<int32_t>(segs.size()); r0 += segs[sgi].n, ++sgi) {
    const int32_t block = AttentionBlockRows(segs[sgi].ctx->n_past_ + segs[sgi].n);
    for (int32_t h = 0; h < c.n_head_kv; ++h) {
      for (int32_t i0 = 0; i0 < segs[sgi].n; i0 += block) {
        jobs.push_back({sgi, h, r0 + i0, i0, std::min(block, segs[sgi].n - i0)});
      }
    }
  }
  pool.ParallelFor(static_cast<int64_t>(jobs.size()), [&](int64_t begin, int64_t end) {
    std::vector<float> scratch;
    for (int64_t ji = begin; ji < end; ++ji) {
      const Job& job = jobs[ji];
      const Context& ctx = *segs[job.seg].ctx;
      const bool f16 = ctx.options_.kv_type == DType::kF16;
      const int64_t elem = static_cast<int64_t>(KvElemBytes(ctx.options_)), kv_off = int64_t{job.kv_head} * head_dim;
      const int64_t q_off = int64_t{job.row0} * c.n_embd + int64_t{job.kv_head} * group * head_dim;
      const AttnHeadArgs a{.q = q + q_off,
                           .q_stride = c.n_embd,
                           .kt = ctx.k_cache(layer) + kv_off * kAttnKeyTile * elem,
                           .kt_tile_stride = ctx.kt_tile_stride_,
                           .v = ctx.v_cache(layer) + kv_off * elem,
                           .v_stride = ctx.n_embd_kv_,
                           .n_rows = job.n,
                           .n_keys0 = ctx.n_past_ + job.i0 + 1,
                           .head_dim = head_dim,
                           .n_heads = group,
                           .scale = scale,
                           .f16 = f16,
                           .out = out + q_off,
                           .out_stride = c.n_embd};
      if (prepare) {  // its rotation and store overlap the loads of the cache
        PrefetchAttnHead(a);
        (*prepare)(job.row0, job.n, job.kv_head, job.kv_head + 1);
      }
      const size_t need = static_cast<size_t>(AttnHeadScratch(a.n_rows, a.n_keys0, head_dim, group));
      if (scratch.size() < need) scratch.resize(need);
      AttnHead(a, scratch.data());
    }
  });
}

int Batch::Add(Context& ctx, std::span<const int32_t> tokens, EvalOutput output) {
  segs_.push_back({&ctx, tokens.data(), static_cast<int32_t>(tokens.size()), output});
  return static_cast<int>(segs_.size()) - 1;
}

int64_t Batch::rows() const {
  int64_t n = 0;
  for (const Context::Segment& s : segs_) n += s.n;
  return n;
}

Status Batch::Eval() {
  if (segs_.empty()) return InvalidArgumentError("the batch is empty");
  const ModelConfig& c = model_.config();
  size_t logit_rows = 0, hidden_rows = 0;
  out_offset_.clear();
  out_size_.clear();
  out_hidden_.clear();
  for (size_t i = 0; i < segs_.size(); ++i) {
    const Context::Segment& s = segs_[i];
    if (&s.ctx->model() != &model_) return InvalidArgumentError("a context of another model is in the batch");
    for (size_t j = 0; j < i; ++j) {
      if (segs_[j].ctx == s.ctx) return InvalidArgumentError("a context appears twice in one batch");
    }
    RETURN_IF_ERROR(s.ctx->CheckAppend(std::span<const int32_t>(s.tokens, static_cast<size_t>(s.n))));
    const bool hidden = s.output == EvalOutput::kHidden;
    const size_t n_out = s.output == EvalOutput::kLastLogits ? 1
                         : s.output == EvalOutput::kNone   ? 0
                                                           : static_cast<size_t>(s.n);
    size_t& cursor = hidden ? hidden_rows : logit_rows;
    out_offset_.push_back(cursor * static_cast<size_t>(hidden ? c.n_embd : c.n_vocab));
    out_size_.push_back(n_out * static_cast<size_t>(hidden ? c.n_embd : c.n_vocab));
    out_hidden_.push_back(hidden);
    cursor += n_out;
  }
  logits_.resize(logit_rows * static_cast<size_t>(c.n_vocab));
  hidden_.resize(hidden_rows * static_cast<size_t>(c.n_embd));
  Context::Forward(model_, pool_, segs_, scratch_, logits_.data(), hidden_.data());
  ++n_passes_;
  n_rows_evaluated_ += rows();
  return Status::Ok();
}

std::span<const float> Batch::output(int i) const {
  const std::vector<float>& buf = out_hidden_[static_cast<size_t>(i)] ? hidden_ : logits_;
  return std::span<const float>(buf.data() + out_offset_[static_cast<size_t>(i)], out_size_[static_cast<size_t>(i)]);
}

}  // namespace flotilla
