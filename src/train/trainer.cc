#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <functional>

#include "base/progress.h"
#include "train/graph.h"

namespace flotilla::train {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Mean validation loss of params (with the adapters of `lora`, when not null).
double EvaluateWith(TrainGraph& graph, const ModelParams& params, const LoraParams* lora, const TokenData& val,
                    int64_t max_batches) {
  LossSum total;
  Batch b;
  for (int64_t i = 0; i < max_batches && EvalBatch(val, graph.batch(), graph.seq(), i, &b); ++i) {
    const LossSum l = lora ? graph.Forward(params, *lora, b.tokens.data(), b.targets.data())
                           : graph.Forward(params, b.tokens.data(), b.targets.data());
    total.sum += l.sum;
    total.count += l.count;
  }
  return total.mean();
}

// The progress line on stderr: redrawn in place on a terminal, a plain line every 10 s otherwise.
class TrainProgress {
 public:
  TrainProgress(int64_t first, int64_t total, bool enabled)
      : first_(first), total_(total), enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1) {}
  void Update(int64_t step, double loss, double tokens_per_s, bool final) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const double since_draw = std::chrono::duration<double>(now - last_).count();
    if (!final && drawn_ && since_draw < (tty_ ? 0.2 : 10.0)) return;
    last_ = now, drawn_ = true;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(step - first_) / elapsed : 0.0;
    const double left = rate > 0 ? static_cast<double>(total_ - step) / rate : -1.0;
    const std::string line = FormatProgressLine(static_cast<uint64_t>(step), static_cast<uint64_t>(total_), rate,
                                                final ? elapsed : left, final, ProgressUnit::kCount, "step", 30);
    std::fprintf(stderr, "%strain %s loss %.4f %.0f tok/s%s", tty_ ? "\r\033[K" : "", line.c_str(), loss,
                 tokens_per_s, tty_ && !final ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  int64_t first_, total_;
  bool enabled_, tty_, drawn_ = false;
  Clock::time_point start_ = Clock::now(), last_ = Clock::now();
};

}  // namespace

double Evaluate(const ModelParams& params, const TokenData& val, int64_t batch, int64_t seq, int64_t max_batches,
                ThreadPool& pool) {
  TrainGraph graph(params.config, batch, seq, pool, params.rope_freqs);
  return EvaluateWith(graph, params, nullptr, val, max_batches);
}

namespace {

// What the loop does with one kind of trainable state (full model or LoRA adapters).
struct StepFns {
  std::function<void()> zero_grads;
  // Forward and backward of one micro-batch: grads += scale * d(loss.sum)/d(trained params).
  std::function<LossSum(const Batch& b, float scale)> forward_backward;
  std::function<float(float lr)> update;  // returns the gradient norm before clipping
  std::function<double()> evaluate;       // mean validation loss
};

// The training loop shared by Train and TrainLora.
StatusOr<TrainResult> RunLoop(int64_t start_step, const TokenData& train, const TokenData& val, const TrainerOptions& o,
                              const SaveFn& save, const StepFns& fns) {
  TrainResult r;
  r.steps_done = start_step;
  TrainProgress progress(start_step, o.steps, o.progress);
  const auto start = Clock::now();
  const int64_t tokens_per_step = o.batch * o.seq * o.grad_accum;
  const bool has_val = !val.tokens.empty();
  for (int64_t step = start_step + 1; step <= o.steps; ++step) {
    // All micro-batches first, to scale the gradient by 1 / (targets counted in the whole step).
    std::vector<Batch> micro;
    int64_t counted = 0;
    for (int64_t m = 0; m < o.grad_accum; ++m) {
      micro.push_back(SampleBatch(train, o.batch, o.seq, o.seed, step, m));
      for (int32_t t : micro.back().targets) counted += t >= 0;
    }
    fns.zero_grads();
    LossSum loss;
    const float scale = counted > 0 ? 1.0f / static_cast<float>(counted) : 0.0f;
    for (const Batch& b : micro) {
      const LossSum l = fns.forward_backward(b, scale);
      loss.sum += l.sum, loss.count += l.count;
    }
    const float lr = LearningRate(o.schedule, step);
    const float norm = fns.update(lr);
    if (!std::isfinite(loss.mean()) || !std::isfinite(norm)) {
      return InternalError("training diverged at step " + std::to_string(step) + " (loss " +
                           std::to_string(loss.mean()) + "); try a lower --lr");
    }
    r.steps_done = step, r.train_loss = loss.mean();
    std::fprintf(o.log, "step %lld loss %.6f lr %.3e grad_norm %.4f\n", static_cast<long long>(step), loss.mean(), lr,
                 norm);
    if (has_val && ((o.eval_every > 0 && step % o.eval_every == 0) || step == o.steps)) {
      r.val_loss = fns.evaluate();
      std::fprintf(o.log, "step %lld val loss %.6f ppl %.2f\n", static_cast<long long>(step), r.val_loss,
                   std::exp(r.val_loss));
    }
    std::fflush(o.log);
    r.seconds = Seconds(start);
    r.tokens_per_s = static_cast<double>(tokens_per_step * (step - start_step)) / r.seconds;
    progress.Update(step, loss.mean(), r.tokens_per_s, step == o.steps);
    const bool cancelled = o.cancel && o.cancel->load();
    if (save && ((o.checkpoint_every > 0 && step % o.checkpoint_every == 0) || cancelled)) {
      RETURN_IF_ERROR(save(step));
    }
    if (cancelled) {
      r.cancelled = true;
      break;
    }
  }
  r.seconds = Seconds(start);
  return r;
}

Status CheckShape(const TrainerOptions& o) {
  if (o.batch <= 0 || o.seq <= 0 || o.grad_accum <= 0) {
    return InvalidArgumentError("batch, context and accumulation must be positive");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<TrainResult> Train(ModelParams& params, AdamW& optimizer, int64_t start_step, const TokenData& train,
                            const TokenData& val, const TrainerOptions& o, ThreadPool& pool, const SaveFn& save) {
  RETURN_IF_ERROR(CheckShape(o));
  TrainGraph graph(params.config, o.batch, o.seq, pool, params.rope_freqs);
  ModelParams grads = ModelParams::ZerosLike(params);
  StepFns fns;
  fns.zero_grads = [&] { grads.SetZero(); };
  fns.forward_backward = [&](const Batch& b, float scale) {
    return o.loss ? o.loss(graph, params, b, scale, grads)
                  : graph.ForwardBackward(params, b.tokens.data(), b.targets.data(), scale, grads);
  };
  fns.update = [&](float lr) { return optimizer.Step(params, grads, lr); };
  fns.evaluate = [&] { return EvaluateWith(graph, params, nullptr, val, o.eval_batches); };
  return RunLoop(start_step, train, val, o, save, fns);
}

StatusOr<TrainResult> TrainLora(const ModelParams& base, LoraParams& lora, LoraAdamW& optimizer, int64_t start_step,
                                const TokenData& train, const TokenData& val, const TrainerOptions& o,
                                ThreadPool& pool, const SaveFn& save) {
  RETURN_IF_ERROR(CheckShape(o));
  if (o.loss) return InvalidArgumentError("a custom loss is not supported with LoRA");
  TrainGraph graph(base.config, o.batch, o.seq, pool, base.rope_freqs);
  LoraParams grads = LoraParams::ZerosLike(lora);
  StepFns fns;
  fns.zero_grads = [&] { grads.SetZero(); };
  fns.forward_backward = [&](const Batch& b, float scale) {
    return graph.ForwardBackwardLora(base, lora, b.tokens.data(), b.targets.data(), scale, grads);
  };
  fns.update = [&](float lr) { return optimizer.Step(lora, grads, lr); };
  fns.evaluate = [&] { return EvaluateWith(graph, base, &lora, val, o.eval_batches); };
  return RunLoop(start_step, train, val, o, save, fns);
}

double EvaluateLora(const ModelParams& base, const LoraParams& lora, const TokenData& val, int64_t batch, int64_t seq,
                    int64_t max_batches, ThreadPool& pool) {
  TrainGraph graph(base.config, batch, seq, pool, base.rope_freqs);
  return EvaluateWith(graph, base, &lora, val, max_batches);
}

}  // namespace flotilla::train
