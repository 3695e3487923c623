#include "train/lora.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "tensor/traits.h"

namespace flotilla::train {
namespace {

std::string ValidTargets() {
  std::string s;
  for (std::string_view n : kLoraModuleNames) {
    if (!s.empty()) s += ',';
    s += n;
  }
  return s;
}

std::string LayerName(size_t layer, int module) {
  return "blk." + std::to_string(layer) + "." + std::string(kLoraModuleNames[module]) + ".weight";
}

std::vector<float>& BaseWeight(LayerParams& L, int module) {
  std::vector<float>* w[kNumLoraModules] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up, &L.ffn_down};
  return *w[module];
}

// Allocates zero adapters of `rank` on `targets` of every layer.
LoraParams AllocateLora(const ModelConfig& c, int32_t rank, float alpha, const std::vector<LoraTarget>& targets) {
  LoraParams p;
  p.config = c;
  p.rank = rank;
  p.alpha = alpha;
  p.layers.resize(static_cast<size_t>(c.n_layer));
  for (auto& layer : p.layers) {
    for (LoraTarget t : targets) {
      int64_t in = 0, out = 0;
      LoraModuleShape(c, static_cast<int>(t), &in, &out);
      layer[static_cast<int>(t)].a.assign(static_cast<size_t>(rank * in), 0.0f);
      layer[static_cast<int>(t)].b.assign(static_cast<size_t>(out * rank), 0.0f);
    }
  }
  return p;
}

}  // namespace

StatusOr<std::vector<LoraTarget>> ParseLoraTargets(std::string_view list) {
  std::vector<LoraTarget> targets;
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    const std::string_view name = list.substr(pos, comma - pos);
    pos = comma + 1;
    if (name.empty()) continue;
    const int m = LoraModuleIndex(name);
    if (m < 0) {
      return InvalidArgumentError("unknown LoRA target '" + std::string(name) + "'; use a comma list of " +
                                  ValidTargets());
    }
    if (std::find(targets.begin(), targets.end(), static_cast<LoraTarget>(m)) != targets.end()) {
      return InvalidArgumentError("LoRA target '" + std::string(name) + "' given twice");
    }
    targets.push_back(static_cast<LoraTarget>(m));
  }
  if (targets.empty()) return InvalidArgumentError("no LoRA targets; use a comma list of " + ValidTargets());
  std::sort(targets.begin(), targets.end());
  return targets;
}

std::string LoraTargetsString(const std::vector<LoraTarget>& targets) {
  std::string s;
  for (LoraTarget t : targets) {
    if (!s.empty()) s += ',';
    s += kLoraModuleNames[static_cast<int>(t)];
  }
  return s;
}

std::vector<LoraTarget> LoraParams::targets() const {
  std::vector<LoraTarget> t;
  if (layers.empty()) return t;
  for (int m = 0; m < kNumLoraModules; ++m) {
    if (!layers[0][m].empty()) t.push_back(static_cast<LoraTarget>(m));
  }
  return t;
}

std::vector<ParamTensor> LoraParams::Tensors() {
  std::vector<ParamTensor> t;
  for (size_t l = 0; l < layers.size(); ++l) {
    for (int m = 0; m < kNumLoraModules; ++m) {
      LoraPair& p = layers[l][m];
      if (p.empty()) continue;
      int64_t in = 0, out = 0;
      LoraModuleShape(config, m, &in, &out);
      const std::string name = LayerName(l, m);
      t.push_back({name + ".lora_a", {in, rank}, p.a.data(), static_cast<int64_t>(p.a.size())});
      t.push_back({name + ".lora_b", {rank, out}, p.b.data(), static_cast<int64_t>(p.b.size())});
    }
  }
  return t;
}

int64_t LoraParams::NumParams() {
  int64_t n = 0;
  for (const ParamTensor& t : Tensors()) n += t.size;
  return n;
}

LoraParams LoraParams::ZerosLike(const LoraParams& p) { return AllocateLora(p.config, p.rank, p.alpha, p.targets()); }

void LoraParams::SetZero() {
  for (ParamTensor& t : Tensors()) std::fill(t.data, t.data + t.size, 0.0f);
}

StatusOr<LoraParams> InitLora(const ModelConfig& c, const LoraOptions& o, uint64_t seed) {
  if (o.targets.empty()) return InvalidArgumentError("no LoRA targets");
  if (o.rank <= 0) return InvalidArgumentError("--lora-rank must be positive, got " + std::to_string(o.rank));
  for (LoraTarget t : o.targets) {
    int64_t in = 0, out = 0;
    LoraModuleShape(c, static_cast<int>(t), &in, &out);
    if (o.rank > std::min(in, out)) {
      return InvalidArgumentError("--lora-rank " + std::to_string(o.rank) + " is too big: " +
                                  std::string(kLoraModuleNames[static_cast<int>(t)]) + " is " + std::to_string(out) +
                                  " x " + std::to_string(in) + ", so the rank can be at most " +
                                  std::to_string(std::min(in, out)));
    }
  }
  if (!std::isfinite(o.alpha) || o.alpha < 0) return InvalidArgumentError("--lora-alpha must be positive");
  const float alpha = o.alpha > 0 ? o.alpha : 2.0f * static_cast<float>(o.rank);
  LoraParams p = AllocateLora(c, o.rank, alpha, o.targets);
  std::mt19937_64 rng(seed ^ 0x4c6f5241ULL);  // "LoRA": a stream apart from the base init's
  for (auto& layer : p.layers) {
    for (LoraPair& pair : layer) {
      if (pair.empty()) continue;
      const float bound = 1.0f / std::sqrt(static_cast<float>(pair.a.size() / static_cast<size_t>(o.rank)));
      std::uniform_real_distribution<float> uniform(-bound, bound);
      for (float& x : pair.a) x = uniform(rng);
    }
  }
  return p;
}

void MergeLora(const LoraParams& lora, ModelParams& base) {
  for (size_t l = 0; l < lora.layers.size(); ++l) {
    for (int m = 0; m < kNumLoraModules; ++m) {
      const LoraPair& p = lora.layers[l][m];
      if (p.empty()) continue;
      int64_t in = 0, out = 0;
      LoraModuleShape(lora.config, m, &in, &out);
      MergeLoraDelta(BaseWeight(base.layers[l], m).data(), p.a.data(), p.b.data(), out, in, lora.rank, lora.scale());
    }
  }
}

namespace {

void AddLoraKeys(const LoraParams& lora, gguf::Writer& w) {
  w.Set("general.type", gguf::Value::String("adapter"));
  w.Set("general.architecture", gguf::Value::String(std::string(ArchName(lora.config.arch))));
  w.Set("adapter.type", gguf::Value::String("lora"));
  w.Set("adapter.lora.alpha", gguf::Value::F32(lora.alpha));  // llama.cpp requires float32
}

Status AddTensors(LoraParams& lora, gguf::Writer& w, const std::string& prefix) {
  for (ParamTensor& t : lora.Tensors()) {
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(t.data), static_cast<size_t>(t.size) * 4);
    RETURN_IF_ERROR(w.AddTensor(prefix + t.name, DType::kF32, t.shape, bytes));
  }
  return Status::Ok();
}

Status CopyTensors(const gguf::File& f, LoraParams& dst, const std::string& prefix) {
  for (ParamTensor& t : dst.Tensors()) {
    const gguf::TensorInfo* info = f.FindTensor(prefix + t.name);
    if (!info) return InvalidArgumentError(f.path() + " has no tensor " + prefix + t.name);
    if (info->shape != t.shape) return InvalidArgumentError(f.path() + ": tensor " + prefix + t.name + " has another shape");
    RETURN_IF_ERROR(DequantizeTensor(info->dtype, info->bytes(), t.size, t.data));
  }
  return Status::Ok();
}

}  // namespace

Status SaveLoraAdapter(LoraParams& lora, const std::string& path) {
  gguf::Writer w;
  AddLoraKeys(lora, w);
  w.Set("general.name", gguf::Value::String("flotilla LoRA adapter"));
  RETURN_IF_ERROR(AddTensors(lora, w, ""));
  return w.WriteFile(path);
}

StatusOr<LoraParams> LoadLoraAdapter(const gguf::File& f, const ModelConfig& c) {
  RETURN_IF_ERROR(ValidateLoraAdapter(f, c));
  int64_t rank = 0;
  std::vector<LoraTarget> targets;
  for (const gguf::TensorInfo& t : f.tensors()) {
    if (!t.name.ends_with(".lora_a")) continue;
    if (rank != 0 && t.shape[1] != rank) return InvalidArgumentError(f.path() + ": adapters of different ranks");
    rank = t.shape[1];
    const std::string base = t.name.substr(0, t.name.size() - 14);  // "blk.L.<module>"
    const int m = LoraModuleIndex(base.substr(base.find('.', 4) + 1));
    if (std::find(targets.begin(), targets.end(), static_cast<LoraTarget>(m)) == targets.end()) {
      targets.push_back(static_cast<LoraTarget>(m));
    }
  }
  std::sort(targets.begin(), targets.end());
  const double alpha = f.Find("adapter.lora.alpha") ? *f.GetFloat("adapter.lora.alpha") : 0.0;
  LoraParams p = AllocateLora(c, static_cast<int32_t>(rank), alpha > 0 ? static_cast<float>(alpha)
                                                                          : static_cast<float>(rank), targets);
  // Every layer must carry the same targets (the shape of adapters flotilla trains).
  if (static_cast<int64_t>(f.tensors().size()) != 2 * static_cast<int64_t>(targets.size()) * c.n_layer) {
    return InvalidArgumentError(f.path() + ": adapters do not cover the same modules in every layer");
  }
  RETURN_IF_ERROR(CopyTensors(f, p, ""));
  return p;
}

LoraAdamW::LoraAdamW(const LoraParams& params, const AdamWOptions& options)
    : options_(options), m_(LoraParams::ZerosLike(params)), v_(LoraParams::ZerosLike(params)) {}

float LoraAdamW::Step(LoraParams& params, LoraParams& grads, float lr) {
  std::vector<ParamTensor> p = params.Tensors(), g = grads.Tensors(), m = m_.Tensors(), v = v_.Tensors();
  ++t_;
  return AdamWUpdate(options_, t_, p, g, m, v, lr);
}

Status SaveLoraCheckpoint(LoraParams& lora, LoraAdamW& optimizer, const CheckpointMeta& meta,
                          const std::string& path) {
  gguf::Writer w;
  AddLoraKeys(lora, w);
  w.Set("general.name", gguf::Value::String("flotilla LoRA training checkpoint"));
  w.Set("flotilla.train.step", gguf::Value::U64(static_cast<uint64_t>(meta.step)));
  w.Set("flotilla.train.seed", gguf::Value::U64(meta.seed));
  w.Set("flotilla.train.batch", gguf::Value::U64(static_cast<uint64_t>(meta.batch)));
  w.Set("flotilla.train.seq", gguf::Value::U64(static_cast<uint64_t>(meta.seq)));
  w.Set("flotilla.train.lora_targets", gguf::Value::String(LoraTargetsString(lora.targets())));
  RETURN_IF_ERROR(AddTensors(lora, w, ""));
  RETURN_IF_ERROR(AddTensors(optimizer.m(), w, "optim.m."));
  RETURN_IF_ERROR(AddTensors(optimizer.v(), w, "optim.v."));
  return w.WriteFile(path);  // atomic
}

StatusOr<LoadedLoraCheckpoint> LoadLoraCheckpoint(const gguf::File& f, const ModelConfig& c) {
  if (!f.Find("flotilla.train.step") || !f.Find("flotilla.train.lora_targets")) {
    return InvalidArgumentError(f.path() + " is not a flotilla LoRA training checkpoint");
  }
  ASSIGN_OR_RETURN(std::string target_list, f.GetString("flotilla.train.lora_targets"));
  ASSIGN_OR_RETURN(std::vector<LoraTarget> targets, ParseLoraTargets(target_list));
  const gguf::TensorInfo* first = f.FindTensor(LayerName(0, static_cast<int>(targets[0])) + ".lora_a");
  if (!first || first->shape.size() != 2) return InvalidArgumentError(f.path() + ": no adapter tensors");
  ASSIGN_OR_RETURN(double alpha, f.GetFloat("adapter.lora.alpha"));
  LoadedLoraCheckpoint ck;
  ck.lora = AllocateLora(c, static_cast<int32_t>(first->shape[1]), static_cast<float>(alpha), targets);
  ck.m = LoraParams::ZerosLike(ck.lora);
  ck.v = LoraParams::ZerosLike(ck.lora);
  RETURN_IF_ERROR(CopyTensors(f, ck.lora, ""));
  RETURN_IF_ERROR(CopyTensors(f, ck.m, "optim.m."));
  RETURN_IF_ERROR(CopyTensors(f, ck.v, "optim.v."));
  ASSIGN_OR_RETURN(uint64_t step, f.GetUint("flotilla.train.step"));
  ASSIGN_OR_RETURN(ck.meta.seed, f.GetUint("flotilla.train.seed"));
  ASSIGN_OR_RETURN(uint64_t batch, f.GetUint("flotilla.train.batch"));
  ASSIGN_OR_RETURN(uint64_t seq, f.GetUint("flotilla.train.seq"));
  ck.meta.step = static_cast<int64_t>(step);
  ck.meta.batch = static_cast<int64_t>(batch);
  ck.meta.seq = static_cast<int64_t>(seq);
  return ck;
}

}  // namespace flotilla::train
