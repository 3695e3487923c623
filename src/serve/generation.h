// One job's work as a state machine, so that a scheduler can interleave several jobs' forward
// passes: ask pending() for the tokens to evaluate next, evaluate them (alone or in a Batch with
// other jobs' tokens), report them with Evaluated(), and hand over the logits (or hidden states)
// after the last pending token; repeat until done(). Internal to src/serve's schedulers.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/context.h"
#include "serve/scheduler.h"

namespace flotilla::serve {

// A generation job (RunGeneration's loop): prefix reuse, prompt, sampling with an optional JSON
// mask, stop strings, cancellation and deadline.
class GenerationRun {
 public:
  // Truncates ctx to the prefix its cache (`cached`, updated as tokens are evaluated; the caller
  // keeps it alive) shares with the prompt. INVALID_ARGUMENT / OUT_OF_RANGE for a prompt that is
  // empty, has an id outside the vocab, or does not fit the context with room for one token.
  static StatusOr<std::unique_ptr<GenerationRun>> Start(Context& ctx, std::vector<int32_t>& cached,
                                                        const std::vector<std::string>& pieces,
                                                        const GenerationJob& job);
  ~GenerationRun();

  // Tokens to evaluate before the next Step: the rest of the prompt, or the last sampled token.
  // Empty once done.
  std::span<const int32_t> pending() const;
  bool prefilling() const { return !prompt_done_; }
  // The first n pending tokens were appended to the context.
  void Evaluated(int32_t n);
  // Ends the job when it was cancelled (FinishReason::kCancelled) or its deadline passed
  // (DEADLINE_EXCEEDED); true when it ended.
  bool CheckInterrupted();
  // Logits ([n_vocab]) after the last pending token, all of them evaluated: samples the next token
  // or finishes.
  void Step(std::span<const float> logits);
  // Ends the job with `status` (a failed forward pass); the context's cache is dropped.
  void Fail(const Status& status);
  bool done() const { return result_.has_value(); }
  // The job's outcome once done().
  StatusOr<GenerationOutput> TakeResult();

 private:
  struct State;
  explicit GenerationRun(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
  bool prompt_done_ = false;
  std::optional<StatusOr<GenerationOutput>> result_;
};

// An embedding job: each input is evaluated from position 0 (in chunks of up to n_batch), its final
// hidden states mean-pooled and L2-normalised.
class EmbeddingRun {
 public:
  // INVALID_ARGUMENT / OUT_OF_RANGE when an input is empty, has an id outside the vocab or does not
  // fit the context. Clears `cached` (the context is reused from position 0).
  static StatusOr<std::unique_ptr<EmbeddingRun>> Start(Context& ctx, std::vector<int32_t>& cached,
                                                       const EmbeddingJob& job);
  // The next chunk of the current input (at most ctx.n_batch() tokens); empty once done.
  std::span<const int32_t> pending() const;
  // Hidden states [n, n_embd] of the first n pending tokens, which were appended to the context.
  void Evaluated(std::span<const float> hidden, int32_t n);
  bool CheckInterrupted();
  void Fail(const Status& status);
  bool done() const { return result_.has_value(); }
  StatusOr<EmbeddingOutput> TakeResult();

 private:
  EmbeddingRun(Context& ctx, const EmbeddingJob& job) : ctx_(ctx), job_(job) {}
  void Finish(StatusOr<EmbeddingOutput> r) { result_ = std::move(r); }

  Context& ctx_;
  const EmbeddingJob& job_;
  size_t input_ = 0;    // current input
  int32_t offset_ = 0;  // tokens of it evaluated
  std::vector<double> sum_;
  EmbeddingOutput out_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::optional<StatusOr<EmbeddingOutput>> result_;
};

// Mean of `rows` rows of `hidden` ([rows, n_embd]) scaled to unit L2 norm (a zero vector stays zero).
std::vector<float> MeanPoolNormalized(std::span<const float> hidden, int32_t rows, int32_t n_embd);

}  // namespace flotilla::serve
