// Hyper-parameters of a llama-family model, as GGUF stores them under "<arch>.*", and the named
// presets of real model shapes (for `flotilla init`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"
#include "gguf/gguf.h"

namespace flotilla {

enum class Arch { kLlama, kQwen2 };
std::string_view ArchName(Arch arch);                      // "llama", "qwen2"
std::optional<Arch> ArchFromName(std::string_view name);

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string name;            // general.name
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;     // <arch>.context_length
  int32_t n_embd = 0;          // <arch>.embedding_length
  int32_t n_layer = 0;         // <arch>.block_count
  int32_t n_ff = 0;            // <arch>.feed_forward_length
  int32_t n_head = 0;          // <arch>.attention.head_count
  int32_t n_head_kv = 0;       // <arch>.attention.head_count_kv
  float rms_norm_eps = 1e-5f;  // <arch>.attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;
  int32_t n_rot = 0;           // <arch>.rope.dimension_count (0: head_dim)
  bool tied_output = false;    // no output.weight: the token embedding doubles as the output matrix

  int32_t head_dim() const { return n_embd / n_head; }
  // INVALID_ARGUMENT when the shape is inconsistent (heads that do not divide, zero sizes).
  Status Validate() const;
  // Writes general.architecture, general.name and the <arch>.* keys.
  void ToGguf(gguf::Writer& writer) const;
};

// Names of the presets, and the preset itself. The shapes are those of the published models.
std::vector<std::string> PresetNames();
StatusOr<ModelConfig> GetPreset(std::string_view name, Arch arch);

}  // namespace flotilla

namespace flotilla {
// Reads general.architecture and the <arch>.* hyper-parameters; n_vocab from the token list.
// UNIMPLEMENTED naming the architecture when it is not llama or qwen2.
StatusOr<ModelConfig> ModelConfigFromGguf(const gguf::File& file);
}  // namespace flotilla
