// Training checkpoints: one GGUF file holding the model (config, vocab, F32 weights — loadable as a
// model) plus the AdamW moments (tensors "optim.m.<name>", "optim.v.<name>") and the step reached.
// Written atomically (temporary file, fsync, rename), so a crash leaves the previous checkpoint.
#pragma once

#include <cstdint>
#include <string>

#include "flotilla/status.h"
#include "tokenizer/vocab.h"
#include "train/optimizer.h"
#include "train/params.h"

namespace flotilla::train {

struct CheckpointMeta {
  int64_t step = 0;       // updates done
  uint64_t seed = 0;
  int64_t batch = 0, seq = 0;
};

Status SaveCheckpoint(ModelParams& params, AdamW& optimizer, const CheckpointMeta& meta, const Vocab& vocab,
                      const std::string& chat_template, const std::string& path);

struct LoadedCheckpoint {
  ModelParams params;
  ModelParams m, v;
  CheckpointMeta meta;
};
// INVALID_ARGUMENT (naming the file) when it is not a flotilla training checkpoint.
StatusOr<LoadedCheckpoint> LoadCheckpoint(const gguf::File& file);

}  // namespace flotilla::train
