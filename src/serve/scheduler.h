// Per-model scheduling of generation jobs. The HTTP layer only sees Scheduler: it submits a job with
// callbacks and waits; how jobs share the model is the scheduler's business.
//
// Today's implementation (MakeSerialScheduler) runs one job at a time on one worker thread, in
// arrival order, with a bounded wait queue. Continuous batching (several sequences per forward pass)
// will be another Scheduler behind the same interface once the model has a multi-sequence context.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/thread_pool.h"
#include "flotilla/status.h"
#include "model/context.h"
#include "model/generate.h"
#include "model/model.h"
#include "model/sampler.h"

namespace flotilla::serve {

struct GenerationOutput {
  std::string text;              // cut before a stop string
  FinishReason finish = FinishReason::kLength;
  int32_t n_prompt = 0;
  int32_t n_completion = 0;
  double queue_seconds = 0.0;    // waiting for the model
  double prompt_seconds = 0.0;
  double generate_seconds = 0.0;
};

struct GenerationJob {
  std::vector<int32_t> prompt;   // must fit the context with room for one token (checked by Submit)
  SamplerOptions sampling;
  int32_t max_tokens = -1;       // -1: until end of generation or a full context
  std::vector<std::string> stop;
  bool json_object = false;      // constrain the output to one JSON object (json_grammar.h)
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Set (from any thread) to stop the job: it then finishes with FinishReason::kCancelled.
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  // Generated text as it becomes final (never a prefix of a stop string); called on a worker thread.
  std::function<void(std::string_view)> on_text;
  // Called exactly once on a worker thread when the job ends, unless Submit returned an error.
  // DEADLINE_EXCEEDED when the deadline passed, FAILED_PRECONDITION when the server shut down.
  std::function<void(StatusOr<GenerationOutput>)> on_done;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Queues `job`. RESOURCE_EXHAUSTED when the wait queue is full; OUT_OF_RANGE when the prompt
  // does not fit the context. On error on_done is not called.
  virtual Status Submit(GenerationJob job) = 0;
  virtual int32_t n_ctx() const = 0;
  virtual int32_t queue_depth() const = 0;  // jobs waiting (not the running ones)
  // Ends queued jobs with FAILED_PRECONDITION, cancels running ones and joins the workers.
  virtual void Shutdown() = 0;
};

// One worker owning `context`; at most `max_queue` jobs wait while one runs. The KV cache keeps the
// previous job's tokens, so a request sharing a prefix with the last one (a growing conversation)
// evaluates only what is new.
std::unique_ptr<Scheduler> MakeSerialScheduler(const Model& model, std::unique_ptr<Context> context,
                                               int32_t max_queue);

// Runs one job on `ctx` (used by schedulers). `cached` holds the tokens in ctx's KV cache and is
// updated. `pieces` holds each token's text (TokenToPiece without specials), for JSON masking.
StatusOr<GenerationOutput> RunGeneration(Context& ctx, std::vector<int32_t>& cached,
                                         const std::vector<std::string>& pieces, const GenerationJob& job);

}  // namespace flotilla::serve
