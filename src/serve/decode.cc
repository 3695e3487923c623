// The token loop of one job: prefix reuse, prompt evaluation, sampling with an optional JSON mask,
// stop strings, cancellation and deadlines.
#include <algorithm>
#include <cmath>

#include "serve/json_grammar.h"
#include "serve/scheduler.h"

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

StatusOr<GenerationOutput> RunGeneration(Context& ctx, std::vector<int32_t>& cached,
                                         const std::vector<std::string>& pieces, const GenerationJob& job) {
  if (job.prompt.empty()) return InvalidArgumentError("the prompt has no tokens");
  if (static_cast<int64_t>(job.prompt.size()) >= ctx.n_ctx()) {
    return OutOfRangeError("the prompt has " + std::to_string(job.prompt.size()) + " tokens but the context holds " +
                           std::to_string(ctx.n_ctx()));
  }
  ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(job.sampling));
  const Vocab& vocab = ctx.model().tokenizer().vocab();
  GenerationOutput out;
  out.n_prompt = static_cast<int32_t>(job.prompt.size());

  const size_t keep = std::min({CommonPrefix(cached, job.prompt), job.prompt.size() - 1,
                                static_cast<size_t>(ctx.n_past())});
  ctx.Truncate(static_cast<int32_t>(keep));
  cached.assign(job.prompt.begin(), job.prompt.begin() + static_cast<std::ptrdiff_t>(keep));
  for (int32_t id : job.prompt) sampler.Accept(id);
  auto t0 = Clock::now();
  std::span<const int32_t> fresh(job.prompt.data() + keep, job.prompt.size() - keep);
  auto evaluated = ctx.Eval(fresh);
  if (!evaluated.ok()) {
    cached.clear();
    ctx.Truncate(0);
    return evaluated.status();
  }
  std::span<const float> logits = *evaluated;
  cached.insert(cached.end(), fresh.begin(), fresh.end());
  out.prompt_seconds = Since(t0);
  t0 = Clock::now();

  StopFilter filter(job.stop, job.on_text);
  JsonPrefixValidator json;
  std::vector<float> masked;
  bool stop_string = false;
  out.finish = FinishReason::kLength;
  while (job.max_tokens < 0 || out.n_completion < job.max_tokens) {
    if (job.cancel && job.cancel->load()) {
      out.finish = FinishReason::kCancelled;
      break;
    }
    if (Clock::now() > job.deadline) return Status(StatusCode::kDeadlineExceeded, "the request took too long");
    int32_t id;
    if (job.json_object) {
      masked.assign(logits.begin(), logits.end());
      if (!MaskJson(json, pieces, masked)) {
        out.finish = FinishReason::kStop;
        break;
      }
      id = sampler.Sample(masked);
      json.Feed(pieces[static_cast<size_t>(id)]);
    } else {
      id = sampler.Sample(logits);
      if (IsEndOfGeneration(vocab, id)) {
        out.finish = FinishReason::kEndOfGeneration;
        break;
      }
    }
    ++out.n_completion;
    sampler.Accept(id);
    if (filter.Add(pieces[static_cast<size_t>(id)])) {
      out.finish = FinishReason::kStop;
      stop_string = true;
      break;
    }
    if (job.json_object && json.done()) {
      out.finish = FinishReason::kStop;
      break;
    }
    if (ctx.n_past() >= ctx.n_ctx()) {
      out.finish = FinishReason::kContextFull;
      break;
    }
    ASSIGN_OR_RETURN(logits, ctx.Eval(std::span<const int32_t>(&id, 1)));
    cached.push_back(id);
  }
  if (!stop_string) filter.Finish();
  out.text = std::move(filter.text());
  out.generate_seconds = Since(t0);
  return out;
}

}  // namespace flotilla::serve
