#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "serve/scheduler.h"

namespace flotilla::serve {
namespace {

using Clock = std::chrono::steady_clock;

class SerialScheduler : public Scheduler {
 public:
  SerialScheduler(const Model& model, std::unique_ptr<Context> context, int32_t max_queue)
      : context_(std::move(context)), max_queue_(max_queue) {
    const Tokenizer& tok = model.tokenizer();
    pieces_.reserve(static_cast<size_t>(tok.n_vocab()));
    for (int32_t id = 0; id < tok.n_vocab(); ++id) pieces_.push_back(tok.TokenToPiece(id, /*render_special=*/false));
    worker_ = std::thread([this] { WorkerLoop(); });
  }
  ~SerialScheduler() override { Shutdown(); }

  Status Submit(GenerationJob job) override {
    if (job.prompt.empty()) return InvalidArgumentError("the prompt has no tokens");
    if (static_cast<int64_t>(job.prompt.size()) >= context_->n_ctx()) {
      return OutOfRangeError("the prompt has " + std::to_string(job.prompt.size()) +
                             " tokens but the model's context holds " + std::to_string(context_->n_ctx()));
    }
    Queued q;
    q.job = std::move(job);
    return Enqueue(std::move(q));
  }

  Status SubmitEmbedding(EmbeddingJob job) override {
    RETURN_IF_ERROR(CheckEmbeddingInputs(job, context_->n_ctx()));
    Queued q;
    q.embed = std::move(job);
    return Enqueue(std::move(q));
  }

  SchedulerStats stats() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  int32_t n_ctx() const override { return context_->n_ctx(); }
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
      if (running_cancel_) running_cancel_->store(true);
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
    if (worker_.joinable()) worker_.join();
  }

 private:
  struct Queued {
    GenerationJob job;
    std::optional<EmbeddingJob> embed;  // set: an embedding job (job unused)
    Clock::time_point queued_at = Clock::now();
  };

  Status Enqueue(Queued q) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return FailedPreconditionError("the server is shutting down");
    const int32_t busy = static_cast<int32_t>(queue_.size()) + (running_cancel_ ? 1 : 0);
    if (busy >= max_queue_ + 1) {  // one running, max_queue_ waiting
      return ResourceExhaustedError("the server is busy: " + std::to_string(queue_.size()) +
                                    " requests are waiting for this model; retry later");
    }
    queue_.push_back(std::move(q));
    wake_.notify_one();
    return Status::Ok();
  }

  void RunEmbeddingJob(Queued& q, double waited) {
    StatusOr<EmbeddingOutput> out = Clock::now() > q.embed->deadline
                                        ? Status(StatusCode::kDeadlineExceeded, "the request waited too long in the queue")
                                        : RunEmbedding(*context_, cached_, *q.embed);
    if (out.ok()) out->queue_seconds = waited;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      running_cancel_.reset();
    }
    q.embed->on_done(std::move(out));
  }

  void WorkerLoop() {
    while (true) {
      Queued q;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping
        q = std::move(queue_.front());
        queue_.pop_front();
        running_cancel_ = q.embed ? q.embed->cancel : q.job.cancel;
      }
      const double waited = std::chrono::duration<double>(Clock::now() - q.queued_at).count();
      if (q.embed) {
        RunEmbeddingJob(q, waited);
        continue;
      }
      SchedulerStats job_stats;
      StatusOr<GenerationOutput> out = [&]() -> StatusOr<GenerationOutput> {
        if (q.job.cancel && q.job.cancel->load()) {  // the client left while waiting
          GenerationOutput o;
          o.finish = FinishReason::kCancelled;
          o.n_prompt = static_cast<int32_t>(q.job.prompt.size());
          return o;
        }
        if (Clock::now() > q.job.deadline) {
          return Status(StatusCode::kDeadlineExceeded, "the request waited too long in the queue");
        }
        return RunGeneration(*context_, cached_, pieces_, q.job, &job_stats);
      }();
      if (out.ok()) out->queue_seconds = waited;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        running_cancel_.reset();
        stats_.passes += job_stats.passes;
        stats_.rows += job_stats.rows;
        stats_.max_jobs_in_pass = std::max(stats_.max_jobs_in_pass, job_stats.max_jobs_in_pass);
      }
      q.job.on_done(std::move(out));
    }
  }

  std::unique_ptr<Context> context_;
  const int32_t max_queue_;
  std::vector<std::string> pieces_;
  std::vector<int32_t> cached_;  // tokens in context_'s KV cache (worker thread only)
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  std::shared_ptr<std::atomic<bool>> running_cancel_;
  SchedulerStats stats_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace

std::unique_ptr<Scheduler> MakeSerialScheduler(const Model& model, std::unique_ptr<Context> context,
                                               int32_t max_queue) {
  return std::make_unique<SerialScheduler>(model, std::move(context), max_queue);
}

}  // namespace flotilla::serve
