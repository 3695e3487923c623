#include "model/config.h"

namespace flotilla {
namespace {

struct Preset {
  std::string_view name;
  ModelConfig config;
};

ModelConfig Shape(int32_t n_vocab, int32_t n_ctx, int32_t n_embd, int32_t n_layer, int32_t n_ff,
                  int32_t n_head, int32_t n_head_kv, float eps, float rope_base, bool tied) {
  ModelConfig c;
  c.n_vocab = n_vocab, c.n_ctx_train = n_ctx, c.n_embd = n_embd, c.n_layer = n_layer, c.n_ff = n_ff;
  c.n_head = n_head, c.n_head_kv = n_head_kv, c.rms_norm_eps = eps, c.rope_freq_base = rope_base;
  c.tied_output = tied;
  return c;
}

// Published shapes: llama2.c's stories260K, stories15M and stories110M, SmolLM2-135M, Qwen2.5-0.5B, Llama 3.2 1B.
const Preset kPresets[] = {
    {"stories260k", Shape(512, 512, 64, 5, 172, 8, 4, 1e-5f, 10000.0f, false)},
    {"stories15m", Shape(32000, 256, 288, 6, 768, 6, 6, 1e-5f, 10000.0f, false)},
    {"stories110m", Shape(32000, 1024, 768, 12, 2048, 12, 12, 1e-5f, 10000.0f, false)},
    {"smollm2-135m", Shape(49152, 8192, 576, 30, 1536, 9, 3, 1e-5f, 100000.0f, true)},
    {"qwen2.5-0.5b", Shape(151936, 32768, 896, 24, 4864, 14, 2, 1e-6f, 1000000.0f, true)},
    {"llama3.2-1b", Shape(128256, 131072, 2048, 16, 8192, 32, 8, 1e-5f, 500000.0f, true)},
};

}  // namespace

std::string_view ArchName(Arch arch) { return arch == Arch::kQwen2 ? "qwen2" : "llama"; }

std::optional<Arch> ArchFromName(std::string_view name) {
  if (name == "llama") return Arch::kLlama;
  if (name == "qwen2") return Arch::kQwen2;
  return std::nullopt;
}

Status ModelConfig::Validate() const {
  if (n_vocab <= 0 || n_embd <= 0 || n_layer <= 0 || n_ff <= 0 || n_head <= 0 || n_head_kv <= 0 ||
      n_ctx_train <= 0) {
    return InvalidArgumentError("model sizes must be positive");
  }
  if (n_embd % n_head != 0) {
    return InvalidArgumentError("n_embd " + std::to_string(n_embd) + " is not a multiple of n_head " +
                                std::to_string(n_head));
  }
  if (n_head % n_head_kv != 0) {
    return InvalidArgumentError("n_head " + std::to_string(n_head) + " is not a multiple of n_head_kv " +
                                std::to_string(n_head_kv));
  }
  return Status::Ok();
}

void ModelConfig::ToGguf(gguf::Writer& writer) const {
  const std::string a(ArchName(arch));
  writer.Set("general.architecture", gguf::Value::String(a));
  writer.Set("general.name", gguf::Value::String(name));
  writer.Set(a + ".context_length", gguf::Value::U32(n_ctx_train));
  writer.Set(a + ".embedding_length", gguf::Value::U32(n_embd));
  writer.Set(a + ".block_count", gguf::Value::U32(n_layer));
  writer.Set(a + ".feed_forward_length", gguf::Value::U32(n_ff));
  writer.Set(a + ".rope.dimension_count", gguf::Value::U32(head_dim()));
  writer.Set(a + ".attention.head_count", gguf::Value::U32(n_head));
  writer.Set(a + ".attention.head_count_kv", gguf::Value::U32(n_head_kv));
  writer.Set(a + ".attention.layer_norm_rms_epsilon", gguf::Value::F32(rms_norm_eps));
  writer.Set(a + ".rope.freq_base", gguf::Value::F32(rope_freq_base));
  writer.Set(a + ".vocab_size", gguf::Value::U32(n_vocab));
}

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.emplace_back(p.name);
  return names;
}

StatusOr<ModelConfig> GetPreset(std::string_view name, Arch arch) {
  for (const Preset& p : kPresets) {
    if (p.name != name) continue;
    ModelConfig c = p.config;
    c.arch = arch;
    c.name = std::string(name);
    return c;
  }
  std::string known;
  for (const Preset& p : kPresets) known += (known.empty() ? "" : ", ") + std::string(p.name);
  return InvalidArgumentError("unknown preset '" + std::string(name) + "'; presets: " + known);
}

}  // namespace flotilla

namespace flotilla {
namespace {

StatusOr<int32_t> GetPositive(const gguf::File& file, const std::string& key) {
  ASSIGN_OR_RETURN(uint64_t v, file.GetUint(key));
  if (v == 0 || v > (1u << 30)) {
    return InvalidArgumentError(key + " = " + std::to_string(v) + " is out of range");
  }
  return static_cast<int32_t>(v);
}

}  // namespace

StatusOr<ModelConfig> ModelConfigFromGguf(const gguf::File& file) {
  ASSIGN_OR_RETURN(std::string arch_name, file.GetString("general.architecture"));
  std::optional<Arch> arch = ArchFromName(arch_name);
  if (!arch) {
    return UnimplementedError("unsupported architecture '" + arch_name + "'; supported: llama, qwen2");
  }
  const std::string a = arch_name + ".";
  ModelConfig c;
  c.arch = *arch;
  if (auto name = file.GetString("general.name"); name.ok()) c.name = *name;
  ASSIGN_OR_RETURN(c.n_ctx_train, GetPositive(file, a + "context_length"));
  ASSIGN_OR_RETURN(c.n_embd, GetPositive(file, a + "embedding_length"));
  ASSIGN_OR_RETURN(c.n_layer, GetPositive(file, a + "block_count"));
  ASSIGN_OR_RETURN(c.n_ff, GetPositive(file, a + "feed_forward_length"));
  ASSIGN_OR_RETURN(c.n_head, GetPositive(file, a + "attention.head_count"));
  c.n_head_kv = c.n_head;
  if (file.Find(a + "attention.head_count_kv")) {
    ASSIGN_OR_RETURN(c.n_head_kv, GetPositive(file, a + "attention.head_count_kv"));
  }
  if (file.Find(a + "attention.layer_norm_rms_epsilon")) {
    ASSIGN_OR_RETURN(double eps, file.GetFloat(a + "attention.layer_norm_rms_epsilon"));
    c.rms_norm_eps = static_cast<float>(eps);
  }
  if (file.Find(a + "rope.freq_base")) {
    ASSIGN_OR_RETURN(double base, file.GetFloat(a + "rope.freq_base"));
    c.rope_freq_base = static_cast<float>(base);
  }
  if (file.Find(a + "rope.dimension_count")) {
    ASSIGN_OR_RETURN(c.n_rot, GetPositive(file, a + "rope.dimension_count"));
  }
  ASSIGN_OR_RETURN(const gguf::Array* tokens, file.GetArray("tokenizer.ggml.tokens"));
  c.n_vocab = static_cast<int32_t>(tokens->items.size());
  c.tied_output = file.FindTensor("output.weight") == nullptr;
  RETURN_IF_ERROR(c.Validate());
  if (c.n_rot > c.head_dim() || c.n_rot % 2 != 0) {
    return InvalidArgumentError(a + "rope.dimension_count " + std::to_string(c.n_rot) +
                                " must be even and at most the head size " + std::to_string(c.head_dim()));
  }
  return c;
}

}  // namespace flotilla
