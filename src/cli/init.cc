// flotilla init --arch llama|qwen2 --preset NAME --random OUT.gguf: a model of a real shape with
// random weights, for benchmarks and tests. Its vocab is learned from --vocab-text, copied from
// --vocab (a GGUF), or, with neither, holds only the byte tokens.
#include <cstdio>
#include <string>

#include "base/file_util.h"
#include "cli/commands.h"
#include "model/config.h"
#include "model/random_model.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_trainer.h"

namespace flotilla::cli {
namespace {

struct InitOptions {
  std::string arch = "llama";
  std::string preset;
  bool random = false;
  std::string out;
  std::string dtype = "f32";
  uint64_t seed = 42;
  std::string vocab_text;
  std::string vocab_gguf;
  int n_threads = 0;
};

StatusOr<Vocab> MakeVocab(const InitOptions& o, int32_t n_vocab) {
  if (!o.vocab_text.empty() && !o.vocab_gguf.empty()) {
    return InvalidArgumentError("give --vocab-text or --vocab, not both");
  }
  if (!o.vocab_gguf.empty()) {
    ASSIGN_OR_RETURN(gguf::File file, gguf::File::Open(o.vocab_gguf));
    return Vocab::FromGguf(file);
  }
  std::string text;
  if (!o.vocab_text.empty()) {
    ASSIGN_OR_RETURN(text, ReadFileToString(o.vocab_text));
  }
  return TrainSpmVocab(text, {.vocab_size = n_vocab});
}

Status Run(const InitOptions& o) {
  if (!o.random) {
    return InvalidArgumentError("init only creates models with random weights: pass --random");
  }
  if (o.n_threads < 0) return InvalidArgumentError("-t must not be negative");
  std::optional<Arch> arch = ArchFromName(o.arch);
  if (!arch) return InvalidArgumentError("unknown --arch '" + o.arch + "'; supported: llama, qwen2");
  std::optional<DType> dtype = DTypeFromName(o.dtype);
  if (!dtype) return InvalidArgumentError("unknown --dtype '" + o.dtype + "'");
  ASSIGN_OR_RETURN(ModelConfig config, GetPreset(o.preset, *arch));
  ASSIGN_OR_RETURN(Vocab vocab, MakeVocab(o, config.n_vocab));
  if (vocab.size() != config.n_vocab) {
    std::fprintf(stderr, "flotilla: n_vocab %d from the vocab replaces the preset's %d\n", vocab.size(),
                 config.n_vocab);
    config.n_vocab = vocab.size();
  }
  RETURN_IF_ERROR(WriteRandomModel(config, vocab, {.dtype = *dtype, .seed = o.seed, .n_threads = o.n_threads}, o.out));
  std::fprintf(stderr, "flotilla: wrote %s (%s, preset %s, %s)\n", o.out.c_str(), o.arch.c_str(),
               o.preset.c_str(), o.dtype.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterInit(CLI::App& app) {
  auto o = std::make_shared<InitOptions>();
  CLI::App* cmd = app.add_subcommand("init", "Create a model of a real shape with random weights");
  cmd->add_option("--arch", o->arch, "Architecture: llama or qwen2")->capture_default_str();
  std::string presets;
  for (const std::string& p : PresetNames()) presets += (presets.empty() ? "" : ", ") + p;
  cmd->add_option("--preset", o->preset, "Shape: " + presets)->required();
  cmd->add_flag("--random", o->random, "Random weights (required: the only kind init makes)");
  cmd->add_option("out", o->out, "Output GGUF file")->required();
  cmd->add_option("--dtype", o->dtype, "Type of the weight matrices")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->add_option("--vocab-text", o->vocab_text, "Learn the vocab from this text file");
  cmd->add_option("--vocab", o->vocab_gguf, "Copy the vocab of this GGUF file");
  cmd->add_option("-t,--threads", o->n_threads, "Threads quantizing the weights (0: one per core)")
      ->capture_default_str();
  cmd->callback([o] { Finish(Run(*o)); });
}

}  // namespace flotilla::cli
