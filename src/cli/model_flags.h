// Flags shared by the commands that load a model and generate: named as llama.cpp names them.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/thread_pool.h"
#include "model/context.h"
#include "model/model.h"
#include "model/sampler.h"

namespace flotilla::cli {

struct ModelFlags {
  std::string model;
  int32_t n_ctx = 0;        // -c; 0: the model's (at most 4096)
  int32_t n_threads = 0;    // -t; 0: one per core
  std::string kv_type = "f16";
  int32_t n_batch = 512;
  std::vector<std::string> lora;                             // --lora A.gguf (scale 1), repeatable
  std::vector<std::pair<std::string, float>> lora_scaled;    // --lora-scaled A.gguf S, repeatable
};

void AddModelFlags(CLI::App& cmd, ModelFlags& flags);
void AddSamplingFlags(CLI::App& cmd, SamplerOptions& options);

// A loaded model (with the --lora adapters merged in) with a thread pool and one context.
struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Context> context;
};
StatusOr<LoadedModel> LoadModel(const ModelFlags& flags);

// Installs a SIGINT handler (once) and returns the flag it sets: the first Ctrl-C asks the running
// work to stop cleanly, a second one ends the process.
const std::atomic<bool>& InterruptFlag();
// Clears the flag after an interrupted piece of work, so that the next Ctrl-C again stops only work.
void ResetInterrupt();

}  // namespace flotilla::cli
