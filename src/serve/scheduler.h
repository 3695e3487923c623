// Per-model scheduling of generation jobs. The HTTP layer only sees Scheduler: it submits a job with
// callbacks and waits; how jobs share the model is the scheduler's business.
//
// MakeSerialScheduler runs one job at a time on one worker thread, in arrival order, with a bounded
// wait queue. MakeBatchingScheduler (continuous batching) runs up to n_slots jobs together: each
// forward pass evaluates one new token of every decoding job plus prompt chunks of jobs that just
// joined (model/context.h Batch); jobs join and leave between passes.
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

// Mean-pooled, L2-normalised final hidden states of each input (as llama.cpp's server with
// --pooling mean), for /v1/embeddings.
struct EmbeddingOutput {
  std::vector<std::vector<float>> embeddings;  // [inputs][n_embd]
  int32_t n_prompt = 0;                        // tokens of all inputs
  double queue_seconds = 0.0;
  double seconds = 0.0;
};

struct EmbeddingJob {
  std::vector<std::vector<int32_t>> inputs;  // each non-empty and within the context (Submit checks)
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  // Called exactly once on a worker thread unless SubmitEmbedding returned an error; CANCELLED when
  // cancel was set, else as GenerationJob::on_done.
  std::function<void(StatusOr<EmbeddingOutput>)> on_done;
};

// Work done so far by a scheduler's forward passes (for tests and /metrics).
struct SchedulerStats {
  int64_t passes = 0;         // forward passes
  int64_t rows = 0;           // token rows they evaluated
  int64_t shared_passes = 0;  // passes that served more than one job
  int32_t max_jobs_in_pass = 0;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Queues `job`. RESOURCE_EXHAUSTED when the wait queue is full; OUT_OF_RANGE when the prompt
  // does not fit the context. On error on_done is not called.
  virtual Status Submit(GenerationJob job) = 0;
  // Queues an embedding job; errors as Submit (OUT_OF_RANGE when an input does not fit the context,
  // INVALID_ARGUMENT when there is none or one is empty).
  virtual Status SubmitEmbedding(EmbeddingJob job) = 0;
  virtual SchedulerStats stats() const = 0;
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

// Up to `n_slots` jobs run together, each on its own context (KV cache) of `options`, sharing
// `pool`; at most `max_queue` more wait. A new job takes the free slot whose cache shares the
// longest prefix with its prompt. Each pass evaluates one token of every decoding job and fills
// the rest of n_batch rows with prompt chunks of joining jobs. INVALID_ARGUMENT for n_slots < 1 or
// bad context options.
StatusOr<std::unique_ptr<Scheduler>> MakeBatchingScheduler(const Model& model, ThreadPool& pool,
                                                           const ContextOptions& options, int32_t n_slots,
                                                           int32_t max_queue);

// Runs one job on `ctx` (used by schedulers). `cached` holds the tokens in ctx's KV cache and is
// updated. `pieces` holds each token's text (TokenToPiece without specials), for JSON masking.
// Adds the forward passes it ran to `stats` when given.
StatusOr<GenerationOutput> RunGeneration(Context& ctx, std::vector<int32_t>& cached,
                                         const std::vector<std::string>& pieces, const GenerationJob& job,
                                         SchedulerStats* stats = nullptr);
// Runs one embedding job on `ctx` from position 0 (clears `cached`).
StatusOr<EmbeddingOutput> RunEmbedding(Context& ctx, std::vector<int32_t>& cached, const EmbeddingJob& job);
// Checks an embedding job's inputs against a context size (as SubmitEmbedding does).
Status CheckEmbeddingInputs(const EmbeddingJob& job, int32_t n_ctx);

}  // namespace flotilla::serve
