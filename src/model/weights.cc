#include "model/weights.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/matmul.h"
#include "kernels/repack.h"
#include "tensor/traits.h"

namespace flotilla {
namespace {

// A view of tensor `name` whose ggml shape must be exactly `shape`.
StatusOr<TensorView> View(const gguf::File& file, const std::string& name, std::vector<int64_t> shape) {
  const gguf::TensorInfo* t = file.FindTensor(name);
  if (!t) return InvalidArgumentError("model has no tensor " + name);
  if (t->shape != shape) {
    return InvalidArgumentError("tensor " + name + " has shape " + gguf::ShapeString(t->shape) + ", expected " +
                                gguf::ShapeString(shape));
  }
  if (GetTraits(t->dtype).dequantize_row == nullptr) {
    return UnimplementedError("tensor " + name + " has dtype " + std::string(DTypeName(t->dtype)) +
                              ", which flotilla cannot compute with");
  }
  TensorView v;
  v.dtype = t->dtype;
  for (size_t i = 0; i < shape.size(); ++i) v.ne[i] = shape[i];
  v.data = t->data;
  return v;
}

// An F32 copy of the vector tensor `name` of length n.
StatusOr<std::vector<float>> Vector(const gguf::File& file, const std::string& name, int64_t n) {
  ASSIGN_OR_RETURN(TensorView v, View(file, name, {n}));
  std::vector<float> out(static_cast<size_t>(n));
  RETURN_IF_ERROR(DequantizeTensor(v.dtype, {v.data, v.row_bytes()}, n, out.data()));
  return out;
}

StatusOr<LayerWeights> LoadLayer(const gguf::File& file, const ModelConfig& c, int layer) {
  const std::string p = "blk." + std::to_string(layer) + ".";
  const int64_t n_embd_kv = int64_t{c.n_head_kv} * c.head_dim();
  LayerWeights w;
  ASSIGN_OR_RETURN(w.attn_norm, Vector(file, p + "attn_norm.weight", c.n_embd));
  ASSIGN_OR_RETURN(w.wq, View(file, p + "attn_q.weight", {c.n_embd, c.n_embd}));
  ASSIGN_OR_RETURN(w.wk, View(file, p + "attn_k.weight", {c.n_embd, n_embd_kv}));
  ASSIGN_OR_RETURN(w.wv, View(file, p + "attn_v.weight", {c.n_embd, n_embd_kv}));
  ASSIGN_OR_RETURN(w.wo, View(file, p + "attn_output.weight", {c.n_embd, c.n_embd}));
  if (c.arch == Arch::kQwen2) {
    ASSIGN_OR_RETURN(w.bq, Vector(file, p + "attn_q.bias", c.n_embd));
    ASSIGN_OR_RETURN(w.bk, Vector(file, p + "attn_k.bias", n_embd_kv));
    ASSIGN_OR_RETURN(w.bv, Vector(file, p + "attn_v.bias", n_embd_kv));
  }
  ASSIGN_OR_RETURN(w.ffn_norm, Vector(file, p + "ffn_norm.weight", c.n_embd));
  ASSIGN_OR_RETURN(w.ffn_gate, View(file, p + "ffn_gate.weight", {c.n_embd, c.n_ff}));
  ASSIGN_OR_RETURN(w.ffn_up, View(file, p + "ffn_up.weight", {c.n_embd, c.n_ff}));
  ASSIGN_OR_RETURN(w.ffn_down, View(file, p + "ffn_down.weight", {c.n_ff, c.n_embd}));
  return w;
}

}  // namespace

StatusOr<ModelWeights> LoadWeights(const gguf::File& file, const ModelConfig& c) {
  ModelWeights w;
  ASSIGN_OR_RETURN(w.token_embd, View(file, "token_embd.weight", {c.n_embd, c.n_vocab}));
  for (int layer = 0; layer < c.n_layer; ++layer) {
    ASSIGN_OR_RETURN(LayerWeights lw, LoadLayer(file, c, layer));
    w.layers.push_back(std::move(lw));
  }
  ASSIGN_OR_RETURN(w.output_norm, Vector(file, "output_norm.weight", c.n_embd));
  if (c.tied_output) {
    w.output = w.token_embd;
  } else {
    ASSIGN_OR_RETURN(w.output, View(file, "output.weight", {c.n_embd, c.n_vocab}));
  }
  if (file.FindTensor("rope_freqs.weight")) {
    const int32_t n_rot = c.n_rot > 0 ? c.n_rot : c.head_dim();
    ASSIGN_OR_RETURN(w.rope_freqs, Vector(file, "rope_freqs.weight", n_rot / 2));
  }
  return w;
}

Status InterleaveWeights(const gguf::File& file, ModelWeights& w, HugePageBuffer& storage) {
  if (!InterleavedKernelsAvailable()) return Status::Ok();
  std::vector<TensorView*> views;
  for (LayerWeights& l : w.layers) {
    for (TensorView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) views.push_back(v);
  }
  views.push_back(&w.output);
  constexpr size_t kAlign = 64;  // whole cache lines, aligned vector loads (the buffer starts aligned)
  size_t total = 0;
  for (const TensorView* v : views) total += (InterleavedBytes(*v) + kAlign - 1) / kAlign * kAlign;
  if (total == 0) return Status::Ok();
  ASSIGN_OR_RETURN(storage, HugePageBuffer::Allocate(total));
  uint8_t* p = storage.data();
  for (TensorView* v : views) {
    const size_t bytes = InterleavedBytes(*v);
    if (bytes == 0) continue;
    InterleaveRows(*v, p);
    v->rows16 = p;
    if (v->data != w.token_embd.data) {
      file.ReleasePages(v->data, v->n_rows() / kInterleaveRows * kInterleaveRows * v->row_bytes());
    }
    p += (bytes + kAlign - 1) / kAlign * kAlign;
  }
  // A tied head's copy holds every row of the table: lookups read it, and the file's pages go.
  const TensorView& head = w.output;
  if (head.data == w.token_embd.data && head.rows16 != nullptr && head.n_rows() % kInterleaveRows == 0 &&
      CanRebuildRows(head.dtype)) {
    w.token_embd.rows16 = head.rows16;
    file.ReleasePages(head.data, static_cast<size_t>(head.n_rows()) * head.row_bytes());
  }
  return Status::Ok();
}

void MoveEmbeddingsToHugePages(const gguf::File& file, ModelWeights& w, HugePageBuffer& storage) {
  if (w.token_embd.rows16 != nullptr) return;  // rows come from the tied head's interleaved copy
  const uint8_t* table = w.token_embd.data;
  const size_t bytes = static_cast<size_t>(w.token_embd.n_rows()) * w.token_embd.row_bytes();
  StatusOr<HugePageBuffer> copy = HugePageBuffer::Allocate(bytes);
  if (!copy.ok() || bytes == 0) {
    file.Prefault(table, bytes);
    return;
  }
  constexpr size_t kSlice = size_t{8} << 20;  // released as copied: memory holds the table about once
  for (size_t off = 0; off < bytes; off += kSlice) {
    const size_t n = std::min(kSlice, bytes - off);
    std::memcpy(copy->data() + off, table + off, n);
    file.ReleasePages(table, off + n);
  }
  storage = std::move(*copy);
  w.token_embd.data = storage.data();
  if (w.output.data == table) w.output.data = storage.data();
}

void EmbedToken(const ModelWeights& w, int32_t token, float* x) {
  const TensorView& t = w.token_embd;
  if (t.rows16 == nullptr) return GetRow(t, token, x);
  std::vector<uint8_t> row(t.row_bytes());
  RebuildRow(t, token, row.data());
  GetTraits(t.dtype).dequantize_row(row.data(), x, t.row_len());
}

}  // namespace flotilla
