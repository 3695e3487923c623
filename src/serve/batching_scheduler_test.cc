// The continuous-batching scheduler: jobs run together give exactly the text they give alone, one
// forward pass serves several of them, and the serial scheduler's semantics hold.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "model/test_model.h"
#include "serve/generation.h"
#include "serve/scheduler.h"

namespace flotilla::serve {
namespace {

using namespace std::chrono_literals;

struct Result {
  std::promise<StatusOr<GenerationOutput>> promise;
  std::future<StatusOr<GenerationOutput>> future = promise.get_future();
  std::string streamed;
};

class BatchingSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<Model>> m = Model::Load(testutil::TinyModelPath());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(*m);
    const Tokenizer& tok = model_->tokenizer();
    for (int32_t id = 0; id < tok.n_vocab(); ++id) pieces_.push_back(tok.TokenToPiece(id, false));
  }

  GenerationJob Job(const std::string& prompt, int32_t max_tokens, float temperature = 0.0f) {
    GenerationJob job;
    job.prompt = model_->tokenizer().Encode(prompt, true, false);
    job.max_tokens = max_tokens;
    job.sampling.temperature = temperature;
    job.sampling.seed = 7;
    return job;
  }
  // A variety of jobs: greedy, seeded sampling, stop strings, json_object, different lengths.
  std::vector<GenerationJob> Jobs() {
    std::vector<GenerationJob> jobs;
    jobs.push_back(Job("the boat", 30));
    jobs.push_back(Job("the small boat carried bread to the lighthouse", 25));
    jobs.push_back(Job("when they are unsure", 40, 0.8f));
    jobs.push_back(Job("the sea", 35));
    jobs.back().stop = {"the"};
    jobs.push_back(Job("boats know the way", 20));
    jobs.back().json_object = true;
    jobs.push_back(Job("dawn", 1));
    jobs.push_back(Job("the harbor and the", 33, 1.2f));
    return jobs;
  }
  // The job run alone on a fresh context.
  GenerationOutput Alone(const GenerationJob& job) {
    auto ctx = Context::Create(*model_, pool_, {.n_ctx = 128});
    CHECK(ctx.ok());
    std::vector<int32_t> cached;
    StatusOr<GenerationOutput> out = RunGeneration(**ctx, cached, pieces_, job);
    CHECK(out.ok());
    return std::move(*out);
  }
  std::unique_ptr<Scheduler> Batching(int32_t n_slots, int32_t max_queue = 16) {
    StatusOr<std::unique_ptr<Scheduler>> s = MakeBatchingScheduler(*model_, pool_, {.n_ctx = 128}, n_slots, max_queue);
    CHECK(s.ok());
    return std::move(*s);
  }
  // Submits `job` reporting into `r`.
  Status Submit(Scheduler& s, GenerationJob job, Result& r) {
    job.on_text = [&r](std::string_view t) { r.streamed += t; };
    job.on_done = [&r](StatusOr<GenerationOutput> out) { r.promise.set_value(std::move(out)); };
    return s.Submit(std::move(job));
  }

  static void WaitForQueueDepth(const Scheduler& s, int32_t depth) {
    for (int i = 0; i < 500 && s.queue_depth() != depth; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(s.queue_depth(), depth);
  }

  ThreadPool pool_{2};
  std::unique_ptr<Model> model_;
  std::vector<std::string> pieces_;
};

TEST_F(BatchingSchedulerTest, ConcurrentJobsGiveTheSerialText) {
  std::vector<GenerationJob> jobs = Jobs();
  std::vector<GenerationOutput> alone;
  for (const GenerationJob& j : jobs) alone.push_back(Alone(j));
  auto sched = Batching(3);
  std::vector<Result> results(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) ASSERT_TRUE(Submit(*sched, jobs[i], results[i]).ok());
  int64_t rows_alone = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    StatusOr<GenerationOutput> out = results[i].future.get();
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->text, alone[i].text) << "job " << i;
    EXPECT_EQ(results[i].streamed, alone[i].text) << "job " << i;
    EXPECT_EQ(out->finish, alone[i].finish) << "job " << i;
    EXPECT_EQ(out->n_completion, alone[i].n_completion) << "job " << i;
    EXPECT_EQ(out->n_prompt, alone[i].n_prompt);
    rows_alone += alone[i].n_prompt + alone[i].n_completion;
  }
  const SchedulerStats st = sched->stats();
  EXPECT_EQ(st.max_jobs_in_pass, 3);
  EXPECT_GT(st.shared_passes, 10);
  EXPECT_LE(st.rows, rows_alone);  // no token evaluated twice
  EXPECT_LT(st.passes, rows_alone / 2);
}

// A job joining while another decodes runs beside it; a cancelled job leaves without disturbing it.
TEST_F(BatchingSchedulerTest, JoinAndCancelBetweenSteps) {
  GenerationJob long_job = Job("the boat", 60), joining = Job("the lighthouse before dawn", 20),
                cancelled = Job("the sea", 60);
  const GenerationOutput long_alone = Alone(long_job), joining_alone = Alone(joining);
  ASSERT_GE(long_alone.n_completion, 20) << "the test needs a long first job";
  ASSERT_GT(long_alone.text.size(), 20u);
  ASSERT_GE(Alone(cancelled).n_completion, 10) << "the test needs a long cancelled job";
  auto sched = Batching(4);
  Result r_long, r_join, r_cancel;
  std::promise<void> started, joined;
  bool signalled = false;
  // Mid-way, the first job holds the worker until the joining job was submitted.
  long_job.on_text = [&](std::string_view t) {
    r_long.streamed += t;
    if (signalled || r_long.streamed.size() <= 10) return;
    signalled = true;
    started.set_value();
    joined.get_future().wait();
  };
  long_job.on_done = [&](StatusOr<GenerationOutput> out) { r_long.promise.set_value(std::move(out)); };
  // The third job's client goes away after three pieces.
  int pieces = 0;
  cancelled.on_text = [&, flag = cancelled.cancel](std::string_view) {
    if (++pieces == 3) flag->store(true);
  };
  cancelled.on_done = [&](StatusOr<GenerationOutput> out) { r_cancel.promise.set_value(std::move(out)); };
  ASSERT_TRUE(sched->Submit(std::move(long_job)).ok());
  ASSERT_TRUE(sched->Submit(std::move(cancelled)).ok());
  ASSERT_EQ(started.get_future().wait_for(60s), std::future_status::ready);
  ASSERT_TRUE(Submit(*sched, joining, r_join).ok());
  joined.set_value();
  StatusOr<GenerationOutput> c = r_cancel.future.get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->finish, FinishReason::kCancelled);
  EXPECT_GE(c->n_completion, 3);
  EXPECT_LT(c->n_completion, 10);
  StatusOr<GenerationOutput> j = r_join.future.get(), l = r_long.future.get();
  ASSERT_TRUE(j.ok() && l.ok());
  EXPECT_EQ(j->text, joining_alone.text);
  EXPECT_EQ(l->text, long_alone.text);
  EXPECT_GT(sched->stats().shared_passes, 0);
}

TEST_F(BatchingSchedulerTest, FullQueueDeadlineAndShutdown) {
  auto sched = Batching(1, /*max_queue=*/1);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  Result first, second, third;
  GenerationJob blocking = Job("the boat", 50);
  blocking.on_text = [gate](std::string_view) { gate.wait(); };  // holds the worker
  blocking.on_done = [&](StatusOr<GenerationOutput> out) { first.promise.set_value(std::move(out)); };
  std::shared_ptr<std::atomic<bool>> first_cancel = blocking.cancel;
  ASSERT_TRUE(sched->Submit(std::move(blocking)).ok());
  GenerationJob late = Job("the sea", 5);
  late.deadline = std::chrono::steady_clock::now();  // past by the time it runs
  ASSERT_TRUE(Submit(*sched, late, second).ok());
  EXPECT_EQ(Submit(*sched, Job("x", 5), third).code(), StatusCode::kResourceExhausted);
  WaitForQueueDepth(*sched, 1);
  first_cancel->store(true);
  release.set_value();
  StatusOr<GenerationOutput> f = first.future.get();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->finish, FinishReason::kCancelled);
  EXPECT_EQ(second.future.get().status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Submit(*sched, Job(std::string(200, 'a'), 5), third).code(), StatusCode::kOutOfRange);

  // Shutdown: the running job is cancelled, the queued one ends with FAILED_PRECONDITION.
  std::promise<void> release2;
  std::shared_future<void> gate2 = release2.get_future().share();
  Result run, queued;
  GenerationJob holding = Job("the boat", 50);
  holding.on_text = [gate2](std::string_view) { gate2.wait(); };
  holding.on_done = [&](StatusOr<GenerationOutput> out) { run.promise.set_value(std::move(out)); };
  ASSERT_TRUE(sched->Submit(std::move(holding)).ok());
  ASSERT_TRUE(Submit(*sched, Job("the sea", 5), queued).ok());
  WaitForQueueDepth(*sched, 1);  // the first job is running
  std::thread stopper([&] { sched->Shutdown(); });
  EXPECT_EQ(queued.future.get().status().code(), StatusCode::kFailedPrecondition);
  release2.set_value();
  stopper.join();
  StatusOr<GenerationOutput> r = run.future.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish, FinishReason::kCancelled);
  EXPECT_EQ(Submit(*sched, Job("the", 5), third).code(), StatusCode::kFailedPrecondition);
}

// Embedding jobs beside generations equal the pooled hidden states computed directly.
TEST_F(BatchingSchedulerTest, EmbeddingsMatchDirectPooling) {
  auto sched = Batching(2);
  EmbeddingJob job;
  job.inputs = {model_->tokenizer().Encode("the boat and the harbor", true, false),
                model_->tokenizer().Encode("dawn", true, false)};
  std::promise<StatusOr<EmbeddingOutput>> done;
  job.on_done = [&](StatusOr<EmbeddingOutput> out) { done.set_value(std::move(out)); };
  Result gen;
  ASSERT_TRUE(Submit(*sched, Job("the boat", 20), gen).ok());
  const std::vector<std::vector<int32_t>> inputs = job.inputs;
  ASSERT_TRUE(sched->SubmitEmbedding(std::move(job)).ok());
  StatusOr<EmbeddingOutput> out = done.get_future().get();
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->embeddings.size(), 2u);
  EXPECT_EQ(out->n_prompt, static_cast<int32_t>(inputs[0].size() + inputs[1].size()));
  const int32_t d = model_->config().n_embd;
  ThreadPool direct(1);  // pool_ may still be busy with the generation (a pool takes one caller at a time)
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto ctx = Context::Create(*model_, direct, {.n_ctx = 128});
    ASSERT_TRUE(ctx.ok());
    StatusOr<std::span<const float>> h = (*ctx)->EvalHidden(inputs[i]);
    ASSERT_TRUE(h.ok());
    std::vector<double> mean(static_cast<size_t>(d));
    double norm = 0;
    for (int32_t k = 0; k < d; ++k) {
      for (size_t r = 0; r < inputs[i].size(); ++r) mean[k] += (*h)[r * d + k];
      mean[k] /= static_cast<double>(inputs[i].size());
      norm += mean[k] * mean[k];
    }
    ASSERT_EQ(out->embeddings[i].size(), static_cast<size_t>(d));
    for (int32_t k = 0; k < d; ++k) EXPECT_NEAR(out->embeddings[i][k], mean[k] / std::sqrt(norm), 1e-5) << i << "," << k;
  }
  EXPECT_TRUE(gen.future.get().ok());
  EmbeddingJob empty;
  empty.on_done = [](StatusOr<EmbeddingOutput>) {};
  EXPECT_EQ(sched->SubmitEmbedding(std::move(empty)).code(), StatusCode::kInvalidArgument);
}

TEST_F(BatchingSchedulerTest, BadOptions) {
  EXPECT_EQ(MakeBatchingScheduler(*model_, pool_, {}, 0, 4).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeBatchingScheduler(*model_, pool_, {.n_batch = 0}, 2, 4).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flotilla::serve
