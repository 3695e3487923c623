// The token loop of one job as a state machine (generation.h): prefix reuse, prompt evaluation,
// sampling with an optional JSON mask, stop strings, cancellation and deadlines; embedding jobs;
// and RunGeneration, the loop that drives one job alone.
#include <algorithm>
#include <cmath>

#include "serve/generation.h"
#include "serve/json_grammar.h"

namespace flotilla::serve {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Passes text on, holding back a tail that may be the start of a stop string.
class StopFilter {
 public:
  StopFilter(const std::vector<std::string>& stop, const std::function<void(std::string_view)>& sink)
      : stop_(stop), sink_(sink) {}

  // Appends `piece`; true when a stop string appeared (text is then cut before it).
  bool Add(std::string_view piece) {
    text_ += piece;
    size_t cut = std::string::npos;
    for (const std::string& s : stop_) {
      size_t from = emitted_ > s.size() ? emitted_ - s.size() : 0;
      if (size_t at = text_.find(s, from); at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
      text_.resize(cut);
      Flush(text_.size());
      return true;
    }
    size_t hold = 0;
    for (const std::string& s : stop_) {
      for (size_t len = std::min(s.size() - 1, text_.size()); len > hold; --len) {
        if (text_.compare(text_.size() - len, len, s, 0, len) == 0) {
          hold = len;
          break;
        }
      }
    }
    Flush(text_.size() - hold);
    return false;
  }
  void Finish() { Flush(text_.size()); }
  std::string& text() { return text_; }

 private:
  void Flush(size_t upto) {
    if (upto > emitted_ && sink_) sink_(std::string_view(text_).substr(emitted_, upto - emitted_));
    emitted_ = std::max(emitted_, upto);
  }
  const std::vector<std::string>& stop_;
  const std::function<void(std::string_view)>& sink_;
  std::string text_;
  size_t emitted_ = 0;
};

// Sets to -inf the logits of tokens whose text would break the JSON prefix (and of textless tokens).
// Returns false when no token is allowed.
bool MaskJson(const JsonPrefixValidator& state, const std::vector<std::string>& pieces, std::vector<float>& logits) {
  bool any = false;
  for (size_t id = 0; id < logits.size() && id < pieces.size(); ++id) {
    if (logits[id] == -INFINITY) continue;
    JsonPrefixValidator next = state;
    if (pieces[id].empty() || !next.Feed(pieces[id])) {
      logits[id] = -INFINITY;
    } else {
      any = true;
    }
  }
  return any;
}

size_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
}

}  // namespace

struct GenerationRun::State {
  State(Context& c, std::vector<int32_t>& cache, const std::vector<std::string>& p, const GenerationJob& j,
        Sampler s)
      : ctx(c), cached(cache), pieces(p), job(j), sampler(std::move(s)), filter(j.stop, j.on_text) {}
  Context& ctx;
  std::vector<int32_t>& cached;
  const std::vector<std::string>& pieces;
  const GenerationJob& job;
  Sampler sampler;
  StopFilter filter;
  JsonPrefixValidator json;
  std::vector<float> masked;
  std::vector<int32_t> pending;  // tokens not yet evaluated
  size_t pending_from = 0;
  GenerationOutput out;
  Clock::time_point t0 = Clock::now();
};

GenerationRun::GenerationRun(std::unique_ptr<State> state) : s_(std::move(state)) {}
GenerationRun::~GenerationRun() = default;

StatusOr<std::unique_ptr<GenerationRun>> GenerationRun::Start(Context& ctx, std::vector<int32_t>& cached,
                                                              const std::vector<std::string>& pieces,
                                                              const GenerationJob& job) {
  if (job.prompt.empty()) return InvalidArgumentError("the prompt has no tokens");
  if (static_cast<int64_t>(job.prompt.size()) >= ctx.n_ctx()) {
    return OutOfRangeError("the prompt has " + std::to_string(job.prompt.size()) + " tokens but the context holds " +
                           std::to_string(ctx.n_ctx()));
  }
  ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(job.sampling));
  const size_t keep = std::min({CommonPrefix(cached, job.prompt), job.prompt.size() - 1,
                                static_cast<size_t>(ctx.n_past())});
  ctx.Truncate(static_cast<int32_t>(keep));
  cached.assign(job.prompt.begin(), job.prompt.begin() + static_cast<std::ptrdiff_t>(keep));
  std::span<const int32_t> fresh(job.prompt.data() + keep, job.prompt.size() - keep);
  RETURN_IF_ERROR(ctx.CheckAppend(fresh));
  auto s = std::make_unique<State>(ctx, cached, pieces, job, std::move(sampler));
  s->out.n_prompt = static_cast<int32_t>(job.prompt.size());
  for (int32_t id : job.prompt) s->sampler.Accept(id);
  s->pending.assign(fresh.begin(), fresh.end());
  return std::unique_ptr<GenerationRun>(new GenerationRun(std::move(s)));
}

std::span<const int32_t> GenerationRun::pending() const {
  if (done()) return {};
  return std::span<const int32_t>(s_->pending).subspan(s_->pending_from);
}

void GenerationRun::Evaluated(int32_t n) {
  auto first = s_->pending.begin() + static_cast<std::ptrdiff_t>(s_->pending_from);
  s_->cached.insert(s_->cached.end(), first, first + n);
  s_->pending_from += static_cast<size_t>(n);
}

bool GenerationRun::CheckInterrupted() {
  if (done()) return true;
  if (s_->job.cancel && s_->job.cancel->load()) {
    s_->out.finish = FinishReason::kCancelled;
    if (!prompt_done_) s_->out.prompt_seconds = Since(s_->t0);
    if (prompt_done_) s_->filter.Finish();
    s_->out.text = std::move(s_->filter.text());
    s_->out.generate_seconds = prompt_done_ ? Since(s_->t0) : 0.0;
    result_ = std::move(s_->out);
    return true;
  }
  if (Clock::now() > s_->job.deadline) {
    result_ = Status(StatusCode::kDeadlineExceeded, "the request took too long");
    return true;
  }
  return false;
}

void GenerationRun::Fail(const Status& status) {
  s_->cached.clear();
  s_->ctx.Truncate(0);
  result_ = status;
}

// One iteration of the token loop: the logits follow every evaluated token.
void GenerationRun::Step(std::span<const float> logits) {
  State& s = *s_;
  if (!prompt_done_) {
    prompt_done_ = true;
    s.out.prompt_seconds = Since(s.t0);
    s.t0 = Clock::now();
  }
  const GenerationJob& job = s.job;
  auto finish = [&](FinishReason reason, bool stop_string) {
    s.out.finish = reason;
    if (!stop_string) s.filter.Finish();
    s.out.text = std::move(s.filter.text());
    s.out.generate_seconds = Since(s.t0);
    result_ = std::move(s.out);
  };
  if (job.max_tokens >= 0 && s.out.n_completion >= job.max_tokens) return finish(FinishReason::kLength, false);
  if (CheckInterrupted()) return;
  int32_t id;
  if (job.json_object) {
    s.masked.assign(logits.begin(), logits.end());
    if (!MaskJson(s.json, s.pieces, s.masked)) return finish(FinishReason::kStop, false);
    id = s.sampler.Sample(s.masked);
    s.json.Feed(s.pieces[static_cast<size_t>(id)]);
  } else {
    id = s.sampler.Sample(logits);
    if (IsEndOfGeneration(s.ctx.model().tokenizer().vocab(), id)) return finish(FinishReason::kEndOfGeneration, false);
  }
  ++s.out.n_completion;
  s.sampler.Accept(id);
  if (s.filter.Add(s.pieces[static_cast<size_t>(id)])) return finish(FinishReason::kStop, true);
  if (job.json_object && s.json.done()) return finish(FinishReason::kStop, false);
  if (s.ctx.n_past() >= s.ctx.n_ctx()) return finish(FinishReason::kContextFull, false);
  s.pending.assign(1, id);
  s.pending_from = 0;
}

StatusOr<GenerationOutput> GenerationRun::TakeResult() {
  CHECK(result_.has_value());
  StatusOr<GenerationOutput> r = std::move(*result_);
  result_ = Status(StatusCode::kInternal, "the result was taken");
  return r;
}

StatusOr<GenerationOutput> RunGeneration(Context& ctx, std::vector<int32_t>& cached,
                                         const std::vector<std::string>& pieces, const GenerationJob& job,
                                         SchedulerStats* stats) {
  ASSIGN_OR_RETURN(std::unique_ptr<GenerationRun> run, GenerationRun::Start(ctx, cached, pieces, job));
  while (!run->done()) {
    std::span<const int32_t> tokens = run->pending();
    StatusOr<std::span<const float>> logits = ctx.Eval(tokens);
    if (!logits.ok()) {
      run->Fail(logits.status());
      break;
    }
    run->Evaluated(static_cast<int32_t>(tokens.size()));
    if (stats) {
      const int64_t n = static_cast<int64_t>(tokens.size());
      stats->passes += (n + ctx.n_batch() - 1) / ctx.n_batch();
      stats->rows += n;
      stats->max_jobs_in_pass = 1;
    }
    run->Step(*logits);
  }
  return run->TakeResult();
}

std::vector<float> MeanPoolNormalized(std::span<const float> hidden, int32_t rows, int32_t n_embd) {
  std::vector<double> sum(static_cast<size_t>(n_embd), 0.0);
  for (int32_t r = 0; r < rows; ++r) {
    for (int32_t i = 0; i < n_embd; ++i) sum[i] += hidden[static_cast<size_t>(r) * n_embd + i];
  }
  double norm = 0.0;
  for (double& v : sum) {
    v /= rows;
    norm += v * v;
  }
  norm = std::sqrt(norm);
  std::vector<float> out(static_cast<size_t>(n_embd));
  for (int32_t i = 0; i < n_embd; ++i) out[i] = norm > 0 ? static_cast<float>(sum[i] / norm) : 0.0f;
  return out;
}

StatusOr<std::unique_ptr<EmbeddingRun>> EmbeddingRun::Start(Context& ctx, std::vector<int32_t>& cached,
                                                            const EmbeddingJob& job) {
  if (job.inputs.empty()) return InvalidArgumentError("there is no input to embed");
  ctx.Truncate(0);
  cached.clear();
  for (size_t i = 0; i < job.inputs.size(); ++i) {
    if (Status st = ctx.CheckAppend(job.inputs[i]); !st.ok()) {
      return Status(st.code(), "input " + std::to_string(i) + ": " + st.message());
    }
  }
  auto run = std::unique_ptr<EmbeddingRun>(new EmbeddingRun(ctx, job));
  run->sum_.assign(static_cast<size_t>(ctx.model().config().n_embd), 0.0);
  return run;
}

std::span<const int32_t> EmbeddingRun::pending() const {
  if (done()) return {};
  const std::vector<int32_t>& in = job_.inputs[input_];
  return std::span<const int32_t>(in).subspan(static_cast<size_t>(offset_),
                                              std::min<size_t>(in.size() - offset_, ctx_.n_batch()));
}

void EmbeddingRun::Evaluated(std::span<const float> hidden, int32_t n) {
  const int32_t d = ctx_.model().config().n_embd;
  for (int32_t r = 0; r < n; ++r) {
    for (int32_t i = 0; i < d; ++i) sum_[i] += hidden[static_cast<size_t>(r) * d + i];
  }
  offset_ += n;
  const std::vector<int32_t>& in = job_.inputs[input_];
  if (offset_ < static_cast<int32_t>(in.size())) return;
  // Input complete: mean, L2-normalise (as MeanPoolNormalized), next input from position 0.
  std::vector<float> mean(sum_.size());
  for (size_t i = 0; i < sum_.size(); ++i) mean[i] = static_cast<float>(sum_[i] / offset_);
  out_.embeddings.push_back(MeanPoolNormalized(mean, 1, d));
  out_.n_prompt += offset_;
  std::fill(sum_.begin(), sum_.end(), 0.0);
  offset_ = 0;
  ctx_.Truncate(0);
  if (++input_ == job_.inputs.size()) {
    out_.seconds = Since(start_);
    Finish(std::move(out_));
  }
}

bool EmbeddingRun::CheckInterrupted() {
  if (done()) return true;
  if (job_.cancel && job_.cancel->load()) {
    Finish(Status(StatusCode::kCancelled, "the client went away"));
  } else if (Clock::now() > job_.deadline) {
    Finish(Status(StatusCode::kDeadlineExceeded, "the request took too long"));
  }
  return done();
}

void EmbeddingRun::Fail(const Status& status) {
  ctx_.Truncate(0);
  Finish(status);
}

StatusOr<EmbeddingOutput> EmbeddingRun::TakeResult() {
  CHECK(result_.has_value());
  StatusOr<EmbeddingOutput> r = std::move(*result_);
  result_ = Status(StatusCode::kInternal, "the result was taken");
  return r;
}

Status CheckEmbeddingInputs(const EmbeddingJob& job, int32_t n_ctx) {
  if (job.inputs.empty()) return InvalidArgumentError("there is no input to embed");
  for (size_t i = 0; i < job.inputs.size(); ++i) {
    if (job.inputs[i].empty()) return InvalidArgumentError("input " + std::to_string(i) + " has no tokens");
    if (static_cast<int64_t>(job.inputs[i].size()) > n_ctx) {
      return OutOfRangeError("input " + std::to_string(i) + " has " + std::to_string(job.inputs[i].size()) +
                             " tokens but the model's context holds " + std::to_string(n_ctx));
    }
  }
  return Status::Ok();
}

StatusOr<EmbeddingOutput> RunEmbedding(Context& ctx, std::vector<int32_t>& cached, const EmbeddingJob& job) {
  ASSIGN_OR_RETURN(std::unique_ptr<EmbeddingRun> run, EmbeddingRun::Start(ctx, cached, job));
  while (!run->done() && !run->CheckInterrupted()) {
    std::span<const int32_t> tokens = run->pending();
    StatusOr<std::span<const float>> hidden = ctx.EvalHidden(tokens);
    if (!hidden.ok()) {
      run->Fail(hidden.status());
      break;
    }
    run->Evaluated(*hidden, static_cast<int32_t>(tokens.size()));
  }
  return run->TakeResult();
}

}  // namespace flotilla::serve
