// What `flotilla train` and `flotilla distill` share: the flags of a language-model training run, where
// the model starts (a checkpoint, a GGUF or a preset shape), the data split, the schedule, and the run
// itself with its checkpoints and Ctrl-C handling, ending in the F32 GGUF at --out.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/thread_pool.h"
#include "flotilla/status.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/params.h"
#include "train/trainer.h"

namespace flotilla::cli {

struct TrainRunOptions {
  std::string preset, arch = "llama", base, vocab_gguf, data, format = "auto", out, checkpoint;
  int32_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_ff = 0;  // preset overrides
  int64_t steps = 0, checkpoint_every = 0, warmup = -1;
  double val_fraction = 0.1;
  bool resume = false;
  int n_threads = 0;
  train::TrainerOptions t;
};

// Help texts of the flags whose meaning differs between the commands.
struct TrainRunHelp {
  std::string model;   // -m
  std::string data;    // --data
  std::string out;     // --out
  std::string vocab;   // --vocab
};

// Adds --preset, --arch, -m, --vocab, the shape overrides, --data, --format, --out, --steps, the batch,
// schedule and optimizer flags, evaluation, checkpoints, --resume, --no-progress and -t. `o` must
// live as long as `cmd`.
void AddTrainRunFlags(CLI::App* cmd, TrainRunOptions* o, const TrainRunHelp& help);

// The model a run starts from, with its vocab; `checkpoint` is set when resuming.
struct TrainStart {
  train::ModelParams params;
  Vocab vocab;
  int64_t step = 0;
  std::unique_ptr<train::LoadedCheckpoint> checkpoint;
};

// --resume: the checkpoint (made with the same batch, ctx and seed); -m: that GGUF; otherwise nullopt
// (the caller starts from PresetParams with a vocab of its choosing).
StatusOr<std::optional<TrainStart>> ResumeOrLoadBase(const TrainRunOptions& o);
// Random weights of --preset (with --arch and the shape overrides) for `vocab`; the training context
// is at least --ctx.
StatusOr<train::ModelParams> PresetParams(const TrainRunOptions& o, const Vocab& vocab);

// True when `path` is chat JSONL by --format (auto: the .jsonl extension). INVALID_ARGUMENT for an
// unknown format.
StatusOr<bool> IsChatData(const TrainRunOptions& o, const std::string& path);
// Reads `path` (chat JSONL or text) with `tok` and splits off --val-fraction as validation data.
Status LoadSplitData(const TrainRunOptions& o, const std::string& path, bool chat, const Tokenizer& tok,
                     train::TokenData* train_data, train::TokenData* val_data);

// Steps, warm-up (default min(100, steps / 10)), checkpoint interval and Ctrl-C into o.t.
void SetSchedule(TrainRunOptions& o);

// Trains s.params with AdamW (restored from s.checkpoint) and o.t, checkpointing to o.checkpoint,
// then writes o.out. `who` names the command in the first log line. CANCELLED (with the checkpoint's
// name) after Ctrl-C.
StatusOr<train::TrainResult> TrainAndSave(TrainRunOptions& o, TrainStart& s, const train::TokenData& train_data,
                                          const train::TokenData& val_data, ThreadPool& pool, const char* who);

}  // namespace flotilla::cli
