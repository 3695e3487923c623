// The training loop: batches, forward/backward with gradient accumulation, clipping, AdamW with the
// warm-up + cosine schedule, periodic held-out evaluation, atomic checkpoints every N steps and when
// cancelled (Ctrl-C), and a progress line (step, loss, tokens/s, ETA).
//
// Log lines on `log` (deterministic given seed, data and thread count, so a resumed run's lines
// equal an uninterrupted run's):
//   step 12 loss 3.456789 lr 1.000e-03 grad_norm 0.8123
//   step 50 val loss 3.210000 ppl 24.78
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "base/thread_pool.h"
#include "flotilla/status.h"
#include "train/data.h"
#include "train/graph.h"
#include "train/lora.h"
#include "train/optimizer.h"
#include "train/params.h"

namespace flotilla::train {

// A training loss other than the language model's cross-entropy (distillation): runs `graph` on the
// batch, adds scale * d(loss.sum)/d(params) into grads and returns the loss summed over the batch's
// counted targets (their count in loss.count).
using LossFn = std::function<LossSum(TrainGraph& graph, const ModelParams& params, const Batch& batch, float scale,
                                     ModelParams& grads)>;

struct TrainerOptions {
  int64_t batch = 8, seq = 128;
  int64_t steps = 100;          // total updates (a resumed run continues up to this)
  int64_t grad_accum = 1;       // micro-batches per update
  uint64_t seed = 1;
  ScheduleOptions schedule;
  AdamWOptions adam;
  int64_t eval_every = 50;      // 0: only at the end
  int64_t eval_batches = 8;     // at most this many validation batches per evaluation
  int64_t checkpoint_every = 0; // 0: none (except on cancel, when a save function is given)
  bool progress = true;         // draw the progress line on stderr
  FILE* log = stdout;
  const std::atomic<bool>* cancel = nullptr;  // set (by a signal handler) to stop after the current step
  LossFn loss;                  // empty: cross-entropy on the targets (evaluation always uses it)
};

struct TrainResult {
  int64_t steps_done = 0;      // the last step completed (including those before a resume)
  double train_loss = 0.0;     // of the last step
  double val_loss = 0.0;       // of the last evaluation (0 without validation data)
  double seconds = 0.0;        // of this run
  double tokens_per_s = 0.0;   // training tokens (batch * seq * grad_accum per step) per second
  bool cancelled = false;
};

// Called to write a checkpoint after `step` updates.
using SaveFn = std::function<Status(int64_t step)>;

// Trains params from step start_step + 1 to options.steps. `val` may be empty (no evaluation).
StatusOr<TrainResult> Train(ModelParams& params, AdamW& optimizer, int64_t start_step, const TokenData& train,
                            const TokenData& val, const TrainerOptions& options, ThreadPool& pool,
                            const SaveFn& save);

// LoRA: trains the adapters `lora` on the frozen `base` (train/lora.h) with the same loop, log lines,
// schedule, evaluation (of base + adapters) and checkpoint calls as Train. options.loss must be empty.
StatusOr<TrainResult> TrainLora(const ModelParams& base, LoraParams& lora, LoraAdamW& optimizer, int64_t start_step,
                                const TokenData& train, const TokenData& val, const TrainerOptions& options,
                                ThreadPool& pool, const SaveFn& save);

// Mean loss per counted token over at most max_batches validation batches.
double Evaluate(const ModelParams& params, const TokenData& val, int64_t batch, int64_t seq, int64_t max_batches,
                ThreadPool& pool);
// The same for base + adapters.
double EvaluateLora(const ModelParams& base, const LoraParams& lora, const TokenData& val, int64_t batch, int64_t seq,
                    int64_t max_batches, ThreadPool& pool);

}  // namespace flotilla::train
