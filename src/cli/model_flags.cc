#include "cli/model_flags.h"

#include <csignal>
#include <unistd.h>

namespace flotilla::cli {
namespace {

std::atomic<bool> interrupted{false};

void OnInterrupt(int) {
  if (interrupted.exchange(true)) _exit(130);
}

}  // namespace

void AddModelFlags(CLI::App& cmd, ModelFlags& f) {
  cmd.add_option("-m,--model", f.model, "GGUF model file")->required();
  cmd.add_option("-c,--ctx-size", f.n_ctx, "Context size in tokens (0: the model's, at most 4096)")
      ->capture_default_str();
  cmd.add_option("-t,--threads", f.n_threads, "Threads (0: one per core)")->capture_default_str();
  cmd.add_option("-b,--batch-size", f.n_batch, "Prompt tokens per forward pass")->capture_default_str();
  cmd.add_option("--kv-type", f.kv_type, "KV cache type: f16 or f32")->capture_default_str();
  cmd.add_option("--lora", f.lora, "Apply this LoRA adapter (llama.cpp GGUF adapter format) at load; repeatable");
  cmd.add_option("--lora-scaled", f.lora_scaled, "Apply a LoRA adapter with a user scale: --lora-scaled FILE SCALE; repeatable");
}

void AddSamplingFlags(CLI::App& cmd, SamplerOptions& o) {
  cmd.add_option("--temp", o.temperature, "Temperature (0: greedy)")->capture_default_str();
  cmd.add_option("--top-k", o.top_k, "Top-k (0: off)")->capture_default_str();
  cmd.add_option("--top-p", o.top_p, "Top-p (1: off)")->capture_default_str();
  cmd.add_option("--min-p", o.min_p, "Min-p (0: off)")->capture_default_str();
  cmd.add_option("--repeat-penalty", o.repeat_penalty, "Repetition penalty (1: off)")->capture_default_str();
  cmd.add_option("--repeat-last-n", o.repeat_last_n, "Tokens the penalties look at (-1: all)")
      ->capture_default_str();
  cmd.add_option("--presence-penalty", o.presence_penalty, "Presence penalty")->capture_default_str();
  cmd.add_option("--frequency-penalty", o.frequency_penalty, "Frequency penalty")->capture_default_str();
  cmd.add_option("-s,--seed", o.seed, "Random seed")->capture_default_str();
}

StatusOr<LoadedModel> LoadModel(const ModelFlags& f) {
  std::optional<DType> kv = DTypeFromName(f.kv_type);
  if (!kv) return InvalidArgumentError("unknown --kv-type '" + f.kv_type + "'; use f16 or f32");
  if (f.n_threads < 0 || f.n_ctx < 0) return InvalidArgumentError("-t and -c must not be negative");
  LoadedModel m;
  std::vector<LoraAdapterSpec> adapters;
  for (const std::string& path : f.lora) adapters.push_back({path, 1.0f});
  for (const auto& [path, scale] : f.lora_scaled) adapters.push_back({path, scale});
  ASSIGN_OR_RETURN(m.model, Model::Load(f.model, adapters));
  m.pool = std::make_unique<ThreadPool>(f.n_threads);
  ASSIGN_OR_RETURN(m.context, Context::Create(*m.model, *m.pool,
                                              {.n_ctx = f.n_ctx, .kv_type = *kv, .n_batch = f.n_batch}));
  return m;
}

const std::atomic<bool>& InterruptFlag() {
  static const bool installed = [] {
    struct sigaction sa = {};
    sa.sa_handler = OnInterrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    return true;
  }();
  (void)installed;
  return interrupted;
}

void ResetInterrupt() { interrupted.store(false); }

}  // namespace flotilla::cli
