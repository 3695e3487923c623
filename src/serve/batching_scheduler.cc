// Continuous batching: up to n_slots jobs share every forward pass (scheduler.h).
//
// One worker thread loops: admit queued jobs into free slots, build a Batch with one token of every
// decoding job plus prompt chunks of joining jobs (up to n_batch rows in all), run it, hand each job
// its logits, and retire the jobs that ended. Jobs never wait for each other to finish.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "serve/generation.h"
#include "serve/scheduler.h"

namespace flotilla::serve {
namespace {

using Clock = std::chrono::steady_clock;

size_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
}

struct Queued {
  GenerationJob job;
  std::optional<EmbeddingJob> embed;  // set: an embedding job (job unused)
  Clock::time_point queued_at = Clock::now();
};

// A context and the job running on it, if any.
struct Slot {
  std::unique_ptr<Context> ctx = nullptr;
  std::vector<int32_t> cached = {};  // tokens in ctx's KV cache
  std::optional<Queued> q = {};      // the running job (kept alive for the run's references)
  double waited = 0.0;
  std::unique_ptr<GenerationRun> run = nullptr;
  std::unique_ptr<EmbeddingRun> embed = nullptr;
  int entry = -1;  // index in the current Batch, -1: not in it
  int32_t n_in_pass = 0;

  bool busy() const { return q.has_value(); }
};

class BatchingScheduler : public Scheduler {
 public:
  BatchingScheduler(const Model& model, ThreadPool& pool, std::vector<std::unique_ptr<Context>> contexts,
                    int32_t max_queue)
      : batch_(model, pool), max_queue_(max_queue), n_batch_(contexts[0]->n_batch()), n_ctx_(contexts[0]->n_ctx()) {
    const Tokenizer& tok = model.tokenizer();
    pieces_.reserve(static_cast<size_t>(tok.n_vocab()));
    for (int32_t id = 0; id < tok.n_vocab(); ++id) pieces_.push_back(tok.TokenToPiece(id, /*render_special=*/false));
    for (auto& c : contexts) slots_.push_back(Slot{.ctx = std::move(c)});
    worker_ = std::thread([this] { WorkerLoop(); });
  }
  ~BatchingScheduler() override { Shutdown(); }

  Status Submit(GenerationJob job) override {
    if (job.prompt.empty()) return InvalidArgumentError("the prompt has no tokens");
    if (static_cast<int64_t>(job.prompt.size()) >= n_ctx_) {
      return OutOfRangeError("the prompt has " + std::to_string(job.prompt.size()) +
                             " tokens but the model's context holds " + std::to_string(n_ctx_));
    }
    Queued q;
    q.job = std::move(job);
    return Enqueue(std::move(q));
  }

  Status SubmitEmbedding(EmbeddingJob job) override {
    RETURN_IF_ERROR(CheckEmbeddingInputs(job, n_ctx_));
    Queued q;
    q.embed = std::move(job);
    return Enqueue(std::move(q));
  }

  SchedulerStats stats() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  int32_t n_ctx() const override { return n_ctx_; }
  int32_t queue_depth() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int32_t>(queue_.size());
  }

  void Shutdown() override {
    std::deque<Queued> dropped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_ && !worker_.joinable()) return;
      stopping_ = true;
      dropped.swap(queue_);
      wake_.notify_all();
    }
    const Status down = FailedPreconditionError("the server is shutting down");
    for (Queued& q : dropped) {
      if (q.embed) {
        q.embed->on_done(down);
      } else {
        q.job.on_done(down);
      }
    }
    if (worker_.joinable()) worker_.join();  // running jobs end as cancelled
  }

 private:
  Status Enqueue(Queued q) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return FailedPreconditionError("the server is shutting down");
    const int32_t n_slots = static_cast<int32_t>(slots_.size());
    if (static_cast<int32_t>(queue_.size()) + n_running_ >= max_queue_ + n_slots) {
      return ResourceExhaustedError("the server is busy: " + std::to_string(queue_.size()) +
                                    " requests are waiting for this model; retry later");
    }
    queue_.push_back(std::move(q));
    wake_.notify_one();
    return Status::Ok();
  }

  // The free slot for a new job: the longest shared prefix for a generation; for an embedding
  // (which overwrites the cache) the slot with the least cached.
  Slot* PickSlot(const Queued& q) {
    Slot* best = nullptr;
    size_t best_score = 0;
    for (Slot& s : slots_) {
      if (s.busy()) continue;
      const size_t score = q.embed ? SIZE_MAX - s.cached.size() : CommonPrefix(s.cached, q.job.prompt);
      if (!best || score > best_score) best = &s, best_score = score;
    }
    return best;
  }

  // Starts `q` on `slot`; false when it ended at once (cancelled while waiting, deadline, bad input).
  bool StartJob(Slot& slot, Queued&& q) {
    slot.waited = std::chrono::duration<double>(Clock::now() - q.queued_at).count();
    slot.q = std::move(q);
    if (slot.q->embed) {
      StatusOr<std::unique_ptr<EmbeddingRun>> run = EmbeddingRun::Start(*slot.ctx, slot.cached, *slot.q->embed);
      if (!run.ok()) return FinishEmbedding(slot, run.status());
      slot.embed = std::move(*run);
      if (slot.embed->CheckInterrupted()) return FinishEmbedding(slot, slot.embed->TakeResult());
      return true;
    }
    const GenerationJob& job = slot.q->job;
    if (job.cancel && job.cancel->load()) {  // the client left while waiting
      GenerationOutput o;
      o.finish = FinishReason::kCancelled;
      o.n_prompt = static_cast<int32_t>(job.prompt.size());
      return FinishGeneration(slot, std::move(o));
    }
    if (Clock::now() > job.deadline) {
      return FinishGeneration(slot, Status(StatusCode::kDeadlineExceeded, "the request waited too long in the queue"));
    }
    StatusOr<std::unique_ptr<GenerationRun>> run = GenerationRun::Start(*slot.ctx, slot.cached, pieces_, job);
    if (!run.ok()) return FinishGeneration(slot, run.status());
    slot.run = std::move(*run);
    return true;
  }

  // Frees the slot and calls the job's on_done with `out`. Returns false (for StartJob).
  bool FinishGeneration(Slot& slot, StatusOr<GenerationOutput> out) {
    if (out.ok()) out->queue_seconds = slot.waited;
    Queued q = Free(slot);
    q.job.on_done(std::move(out));
    return false;
  }
  bool FinishEmbedding(Slot& slot, StatusOr<EmbeddingOutput> out) {
    if (out.ok()) out->queue_seconds = slot.waited;
    Queued q = Free(slot);
    q.embed->on_done(std::move(out));
    return false;
  }
  // A running job that ended: passes its result on.
  void Retire(Slot& slot) {
    if (slot.embed) {
      FinishEmbedding(slot, slot.embed->TakeResult());
    } else {
      FinishGeneration(slot, slot.run->TakeResult());
    }
  }
  // Takes the job out of its slot; counted as no longer running before on_done is called, so that
  // a client answered at once can submit again.
  Queued Free(Slot& slot) {
    Queued q = std::move(*slot.q);
    slot.q.reset();
    slot.run.reset();
    slot.embed.reset();
    std::lock_guard<std::mutex> lock(mutex_);
    --n_running_;
    return q;
  }

  // Fills free slots from the queue. Returns false when the worker should exit.
  bool Admit() {
    std::vector<Queued> starting;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || n_running_ > 0; });
      if (stopping_) {
        for (Slot& s : slots_) {
          if (s.busy()) (s.q->embed ? s.q->embed->cancel : s.q->job.cancel)->store(true);
        }
        if (n_running_ == 0) return false;
      }
      int32_t free = 0;
      for (const Slot& s : slots_) free += s.busy() ? 0 : 1;
      while (free > 0 && !queue_.empty()) {
        starting.push_back(std::move(queue_.front()));
        queue_.pop_front();
        ++n_running_;
        --free;
      }
    }
    for (Queued& q : starting) {
      Slot* slot = PickSlot(q);
      StartJob(*slot, std::move(q));
    }
    return true;
  }

  // One forward pass over every running job; then each job takes its output.
  void Step() {
    batch_.Clear();
    int64_t budget = n_batch_;
    bool prefill_added = false;
    // Decoding jobs first (one row each), then prompt chunks and embedding inputs in the rest.
    for (int phase = 0; phase < 2; ++phase) {
      for (Slot& s : slots_) {
        if (phase == 0) s.entry = -1;
        if (!s.busy() || s.entry >= 0) continue;
        if (s.run ? s.run->CheckInterrupted() : s.embed->CheckInterrupted()) {
          Retire(s);
          continue;
        }
        const bool decoding = s.run && !s.run->prefilling();
        if ((phase == 0) != decoding) continue;
        if (!decoding && budget <= 0 && prefill_added) continue;
        std::span<const int32_t> tokens = s.run ? s.run->pending() : s.embed->pending();
        if (!decoding) {  // a chunk of what fits; at least one token per pass
          tokens = tokens.subspan(0, std::min<size_t>(tokens.size(), static_cast<size_t>(std::max<int64_t>(budget, 1))));
          prefill_added = true;
        }
        s.n_in_pass = static_cast<int32_t>(tokens.size());
        budget -= s.n_in_pass;
        const bool whole = s.run && tokens.size() == s.run->pending().size();
        s.entry = batch_.Add(*s.ctx, tokens, s.embed ? EvalOutput::kHidden
                                             : whole ? EvalOutput::kLastLogits
                                                     : EvalOutput::kNone);
      }
    }
    if (batch_.size() == 0) return;
    const Status evaluated = batch_.Eval();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.passes;
      stats_.rows += batch_.rows();
      if (batch_.size() > 1) ++stats_.shared_passes;
      stats_.max_jobs_in_pass = std::max(stats_.max_jobs_in_pass, batch_.size());
    }
    for (Slot& s : slots_) {
      if (s.entry < 0) continue;
      if (!evaluated.ok()) {  // cannot happen for checked jobs; fail them all rather than loop
        if (s.run) {
          s.run->Fail(evaluated);
        } else {
          s.embed->Fail(evaluated);
        }
      } else if (s.embed) {
        s.embed->Evaluated(batch_.output(s.entry), s.n_in_pass);
      } else {
        s.run->Evaluated(s.n_in_pass);
        if (s.run->pending().empty()) s.run->Step(batch_.output(s.entry));
      }
      if (s.run ? s.run->done() : s.embed->done()) Retire(s);
    }
  }

  void WorkerLoop() {
    while (Admit()) Step();
  }

  Batch batch_;
  const int32_t max_queue_;
  const int32_t n_batch_;
  const int32_t n_ctx_;
  std::vector<std::string> pieces_;
  std::vector<Slot> slots_;  // worker thread only
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  int32_t n_running_ = 0;  // jobs taken from the queue and not yet retired
  SchedulerStats stats_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace

StatusOr<std::unique_ptr<Scheduler>> MakeBatchingScheduler(const Model& model, ThreadPool& pool,
                                                           const ContextOptions& options, int32_t n_slots,
                                                           int32_t max_queue) {
  if (n_slots < 1) return InvalidArgumentError("the number of parallel sequences must be at least 1");
  if (max_queue < 0) return InvalidArgumentError("the queue size must not be negative");
  std::vector<std::unique_ptr<Context>> contexts;
  for (int32_t i = 0; i < n_slots; ++i) {
    ASSIGN_OR_RETURN(std::unique_ptr<Context> c, Context::Create(model, pool, options));
    contexts.push_back(std::move(c));
  }
  return std::unique_ptr<Scheduler>(new BatchingScheduler(model, pool, std::move(contexts), max_queue));
}

}  // namespace flotilla::serve
