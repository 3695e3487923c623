#include "train/params.h"

#include <cmath>
#include <random>

#include "tensor/traits.h"

namespace flotilla::train {
namespace {

std::vector<float> Zeros(int64_t n) { return std::vector<float>(static_cast<size_t>(n), 0.0f); }

}  // namespace

std::vector<ParamTensor> ModelParams::Tensors() {
  const int64_t d = config.n_embd, dkv = int64_t{config.n_head_kv} * config.head_dim(), ff = config.n_ff;
  const int64_t nv = config.n_vocab;
  std::vector<ParamTensor> t;
  auto add = [&](std::string name, std::vector<int64_t> shape, std::vector<float>& v) {
    t.push_back({std::move(name), std::move(shape), v.data(), static_cast<int64_t>(v.size())});
  };
  add("token_embd.weight", {d, nv}, token_embd);
  for (size_t l = 0; l < layers.size(); ++l) {
    LayerParams& L = layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {d}, L.attn_norm);
    add(p + "attn_q.weight", {d, d}, L.wq);
    add(p + "attn_k.weight", {d, dkv}, L.wk);
    add(p + "attn_v.weight", {d, dkv}, L.wv);
    if (config.arch == Arch::kQwen2) {
      add(p + "attn_q.bias", {d}, L.bq);
      add(p + "attn_k.bias", {dkv}, L.bk);
      add(p + "attn_v.bias", {dkv}, L.bv);
    }
    add(p + "attn_output.weight", {d, d}, L.wo);
    add(p + "ffn_norm.weight", {d}, L.ffn_norm);
    add(p + "ffn_gate.weight", {d, ff}, L.ffn_gate);
    add(p + "ffn_up.weight", {d, ff}, L.ffn_up);
    add(p + "ffn_down.weight", {ff, d}, L.ffn_down);
  }
  add("output_norm.weight", {d}, output_norm);
  if (!config.tied_output) add("output.weight", {d, nv}, output);
  return t;
}

int64_t ModelParams::NumParams() {
  int64_t n = 0;
  for (const ParamTensor& t : Tensors()) n += t.size;
  return n;
}

void ModelParams::SetZero() {
  for (ParamTensor& t : Tensors()) std::fill(t.data, t.data + t.size, 0.0f);
}

ModelParams AllocateParams(const ModelConfig& c) {
  const int64_t d = c.n_embd, dkv = int64_t{c.n_head_kv} * c.head_dim(), ff = c.n_ff;
  ModelParams p;
  p.config = c;
  p.token_embd = Zeros(c.n_vocab * d);
  p.layers.resize(static_cast<size_t>(c.n_layer));
  for (LayerParams& L : p.layers) {
    L.attn_norm = Zeros(d);
    L.wq = Zeros(d * d);
    L.wk = Zeros(dkv * d);
    L.wv = Zeros(dkv * d);
    if (c.arch == Arch::kQwen2) L.bq = Zeros(d), L.bk = Zeros(dkv), L.bv = Zeros(dkv);
    L.wo = Zeros(d * d);
    L.ffn_norm = Zeros(d);
    L.ffn_gate = Zeros(ff * d);
    L.ffn_up = Zeros(ff * d);
    L.ffn_down = Zeros(d * ff);
  }
  p.output_norm = Zeros(d);
  if (!c.tied_output) p.output = Zeros(c.n_vocab * d);
  return p;
}

ModelParams ModelParams::ZerosLike(const ModelParams& p) {
  ModelParams z = AllocateParams(p.config);
  z.rope_freqs = p.rope_freqs;
  return z;
}

ModelParams RandomParams(const ModelConfig& config, uint64_t seed) {
  ModelParams p = AllocateParams(config);
  std::mt19937_64 rng(seed);
  const float std_proj = 0.02f / std::sqrt(2.0f * static_cast<float>(config.n_layer));
  for (ParamTensor& t : p.Tensors()) {
    if (t.shape.size() == 1) {  // norm weights 1, biases 0
      const bool norm = t.name.find("norm") != std::string::npos;
      std::fill(t.data, t.data + t.size, norm ? 1.0f : 0.0f);
      continue;
    }
    const bool proj = t.name.find("attn_output") != std::string::npos || t.name.find("ffn_down") != std::string::npos;
    std::normal_distribution<float> normal(0.0f, proj ? std_proj : 0.02f);
    for (int64_t i = 0; i < t.size; ++i) t.data[i] = normal(rng);
  }
  return p;
}

Status CopyTensorsFromGguf(const gguf::File& file, ModelParams& dst, const std::string& prefix) {
  for (ParamTensor& t : dst.Tensors()) {
    const gguf::TensorInfo* info = file.FindTensor(prefix + t.name);
    if (!info) return InvalidArgumentError(file.path() + " has no tensor " + prefix + t.name);
    if (info->n_elements() != t.size) {
      return InvalidArgumentError("tensor " + prefix + t.name + " has " + std::to_string(info->n_elements()) +
                                  " elements, expected " + std::to_string(t.size));
    }
    RETURN_IF_ERROR(DequantizeTensor(info->dtype, info->bytes(), t.size, t.data));
  }
  return Status::Ok();
}

StatusOr<ModelParams> LoadParams(const gguf::File& file) {
  ASSIGN_OR_RETURN(ModelConfig config, ModelConfigFromGguf(file));
  ModelParams p = AllocateParams(config);
  RETURN_IF_ERROR(CopyTensorsFromGguf(file, p));
  if (const gguf::TensorInfo* rf = file.FindTensor("rope_freqs.weight")) {
    p.rope_freqs.resize(static_cast<size_t>(rf->n_elements()));
    RETURN_IF_ERROR(DequantizeTensor(rf->dtype, rf->bytes(), rf->n_elements(), p.rope_freqs.data()));
  }
  return p;
}

Status AddParamTensors(ModelParams& params, gguf::Writer& writer, const std::string& prefix) {
  for (ParamTensor& t : params.Tensors()) {
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(t.data), static_cast<size_t>(t.size) * 4);
    RETURN_IF_ERROR(writer.AddTensor(prefix + t.name, DType::kF32, t.shape, bytes));
  }
  return Status::Ok();
}

Status SaveModelGguf(ModelParams& params, const Vocab& vocab, const std::string& chat_template,
                     const std::string& path) {
  gguf::Writer writer;
  params.config.ToGguf(writer);
  writer.Set("general.file_type", gguf::Value::U32(0));  // all F32
  vocab.ToGguf(writer);
  if (!chat_template.empty()) writer.Set("tokenizer.chat_template", gguf::Value::String(chat_template));
  RETURN_IF_ERROR(AddParamTensors(params, writer));
  if (!params.rope_freqs.empty()) {
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(params.rope_freqs.data()),
                                   params.rope_freqs.size() * 4);
    RETURN_IF_ERROR(writer.AddTensor("rope_freqs.weight", DType::kF32,
                                     {static_cast<int64_t>(params.rope_freqs.size())}, bytes));
  }
  return writer.WriteFile(path);
}

}  // namespace flotilla::train
