#include "model/lora.h"

#include <charconv>
#include <map>

#include "tensor/traits.h"

namespace flotilla {
namespace {

// A base matrix an adapter names: "blk.<layer>.<module>.weight".
struct BaseName {
  int layer = -1;
  int module = -1;
};

std::optional<BaseName> ParseBaseName(std::string_view name, int n_layer) {
  if (!name.starts_with("blk.") || !name.ends_with(".weight")) return std::nullopt;
  name.remove_prefix(4);
  name.remove_suffix(7);
  const size_t dot = name.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  BaseName b;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + dot, b.layer);
  if (ec != std::errc() || end != name.data() + dot || b.layer < 0 || b.layer >= n_layer) return std::nullopt;
  b.module = LoraModuleIndex(name.substr(dot + 1));
  if (b.module < 0) return std::nullopt;
  return b;
}

TensorView& ModuleView(LayerWeights& w, int module) {
  TensorView* views[kNumLoraModules] = {&w.wq, &w.wk, &w.wv, &w.wo, &w.ffn_gate, &w.ffn_up, &w.ffn_down};
  return *views[module];
}

struct AdapterPair {
  const gguf::TensorInfo* a = nullptr;
  const gguf::TensorInfo* b = nullptr;
  BaseName base;
};

// Pairs the adapter's tensors by base name, checking each against the base shapes.
StatusOr<std::map<std::string, AdapterPair>> PairTensors(const gguf::File& f, const ModelConfig& c) {
  std::map<std::string, AdapterPair> pairs;
  for (const gguf::TensorInfo& t : f.tensors()) {
    const bool is_a = t.name.ends_with(".lora_a"), is_b = t.name.ends_with(".lora_b");
    if (!is_a && !is_b) return InvalidArgumentError("tensor " + t.name + " is not a LoRA tensor (.lora_a/.lora_b)");
    const std::string base = t.name.substr(0, t.name.size() - 7);
    std::optional<BaseName> bn = ParseBaseName(base, c.n_layer);
    if (!bn) {
      return InvalidArgumentError("adapter tensor " + t.name + " does not adapt a matrix of this model (flotilla " +
                                  "adapts blk.0.." + std::to_string(c.n_layer - 1) +
                                  ".{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight)");
    }
    if (GetTraits(t.dtype).dequantize_row == nullptr) {
      return UnimplementedError("adapter tensor " + t.name + " has dtype " + std::string(DTypeName(t.dtype)) +
                                ", which flotilla cannot read");
    }
    AdapterPair& p = pairs[base];
    p.base = *bn;
    (is_a ? p.a : p.b) = &t;
  }
  for (const auto& [name, p] : pairs) {
    if (!p.a || !p.b) return InvalidArgumentError("adapter has " + name + (p.a ? ".lora_a without .lora_b" : ".lora_b without .lora_a"));
    int64_t in = 0, out = 0;
    LoraModuleShape(c, p.base.module, &in, &out);
    const int64_t r = p.a->shape.size() == 2 ? p.a->shape[1] : 0;
    if (p.a->shape.size() != 2 || p.b->shape.size() != 2 || p.a->shape[0] != in || p.b->shape[1] != out ||
        p.b->shape[0] != r || r <= 0) {
      return InvalidArgumentError("adapter tensors for " + name + " have shapes " + gguf::ShapeString(p.a->shape) + " and " +
                                  gguf::ShapeString(p.b->shape) + "; the base matrix " + gguf::ShapeString({in, out}) +
                                  " needs [" + std::to_string(in) + ", r] and [r, " + std::to_string(out) + "]");
    }
  }
  if (pairs.empty()) return InvalidArgumentError("adapter has no LoRA tensors");
  return pairs;
}

}  // namespace

void LoraModuleShape(const ModelConfig& c, int module, int64_t* in, int64_t* out) {
  const int64_t d = c.n_embd, dkv = int64_t{c.n_head_kv} * c.head_dim(), ff = c.n_ff;
  const int64_t ins[kNumLoraModules] = {d, d, d, d, d, d, ff};
  const int64_t outs[kNumLoraModules] = {d, dkv, dkv, d, ff, ff, d};
  *in = ins[module];
  *out = outs[module];
}

int LoraModuleIndex(std::string_view name) {
  for (int i = 0; i < kNumLoraModules; ++i) {
    if (kLoraModuleNames[i] == name) return i;
  }
  return -1;
}

void MergeLoraDelta(float* w, const float* a, const float* b, int64_t out, int64_t in, int64_t r, float scale) {
  for (int64_t o = 0; o < out; ++o) {
    float* wo = w + o * in;
    for (int64_t k = 0; k < r; ++k) {
      const float c = scale * b[o * r + k];
      const float* ak = a + k * in;
      for (int64_t i = 0; i < in; ++i) wo[i] += c * ak[i];
    }
  }
}

float LoraScale(float user_scale, float alpha, int64_t rank) {
  return alpha != 0.0f ? user_scale * alpha / static_cast<float>(rank) : user_scale;
}

Status ValidateLoraAdapter(const gguf::File& f, const ModelConfig& c) {
  auto check = [&]() -> Status {
    StatusOr<std::string> type = f.GetString("general.type");
    if (!type.ok() || *type != "adapter") return InvalidArgumentError("not a LoRA adapter (general.type is not \"adapter\")");
    StatusOr<std::string> adapter_type = f.GetString("adapter.type");
    if (!adapter_type.ok() || *adapter_type != "lora") {
      return InvalidArgumentError("not a LoRA adapter (adapter.type is not \"lora\")");
    }
    ASSIGN_OR_RETURN(std::string arch, f.GetString("general.architecture"));
    if (arch != ArchName(c.arch)) {
      return InvalidArgumentError("adapter is for architecture " + arch + ", the model is " +
                                  std::string(ArchName(c.arch)));
    }
    if (f.Find("adapter.lora.alpha") && !f.GetFloat("adapter.lora.alpha").ok()) {
      return InvalidArgumentError("adapter.lora.alpha is not a float");
    }
    return PairTensors(f, c).status();
  }();
  return check.ok() ? check : check.WithContext(f.path());
}

Status ApplyLoraAdapters(const std::vector<LoraAdapterSpec>& adapters, const ModelConfig& c, ModelWeights& weights,
                         std::vector<std::vector<float>>& storage) {
  std::vector<gguf::File> files;
  for (const LoraAdapterSpec& spec : adapters) {
    ASSIGN_OR_RETURN(gguf::File f, gguf::File::Open(spec.path));
    RETURN_IF_ERROR(ValidateLoraAdapter(f, c));
    files.push_back(std::move(f));
  }
  std::map<const void*, float*> owned;  // view data -> its F32 copy, for matrices already copied
  for (size_t i = 0; i < files.size(); ++i) {
    const gguf::File& f = files[i];
    ASSIGN_OR_RETURN(auto pairs, PairTensors(f, c));
    const double alpha = f.Find("adapter.lora.alpha") ? *f.GetFloat("adapter.lora.alpha") : 0.0;
    for (const auto& [name, p] : pairs) {
      TensorView& v = ModuleView(weights.layers[static_cast<size_t>(p.base.layer)], p.base.module);
      const int64_t in = v.ne[0], out = v.ne[1], r = p.a->shape[1];
      auto it = owned.find(v.data);
      if (it == owned.end()) {  // first adapter on this matrix: an F32 copy the model owns
        std::vector<float>& copy = storage.emplace_back(static_cast<size_t>(in * out));
        RETURN_IF_ERROR(DequantizeTensor(v.dtype, {v.data, v.row_bytes() * static_cast<uint64_t>(out)}, in * out,
                                         copy.data()));
        v.dtype = DType::kF32;
        v.data = reinterpret_cast<const uint8_t*>(copy.data());
        it = owned.emplace(v.data, copy.data()).first;
      }
      std::vector<float> a(static_cast<size_t>(r * in)), b(static_cast<size_t>(out * r));
      RETURN_IF_ERROR(DequantizeTensor(p.a->dtype, p.a->bytes(), r * in, a.data()));
      RETURN_IF_ERROR(DequantizeTensor(p.b->dtype, p.b->bytes(), out * r, b.data()));
      MergeLoraDelta(it->second, a.data(), b.data(), out, in, r,
                     LoraScale(adapters[i].scale, static_cast<float>(alpha), r));
    }
  }
  return Status::Ok();
}

}  // namespace flotilla
