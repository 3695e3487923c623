#include "model/generate.h"

#include <algorithm>
#include <chrono>

namespace flotilla {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Releases text to the caller, holding back any tail that may be the start of a stop string.
class StopMatcher {
 public:
  StopMatcher(const std::vector<std::string>& stop, const std::function<void(std::string_view)>& sink,
              std::string& text)
      : stop_(stop), sink_(sink), text_(text) {}

  // Adds a piece; returns true when a stop string now appears (text_ is then cut before it).
  bool Add(std::string_view piece) {
    text_ += piece;
    size_t cut = std::string::npos;
    for (const std::string& s : stop_) {
      if (s.empty()) continue;
      size_t at = text_.find(s, emitted_ > s.size() ? emitted_ - s.size() : 0);
      if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
      text_.resize(cut);
      Flush(text_.size());
      return true;
    }
    size_t hold = 0;  // longest suffix of text_ that is a proper prefix of a stop string
    for (const std::string& s : stop_) {
      for (size_t len = std::min(s.size() - (s.empty() ? 0 : 1), text_.size()); len > hold; --len) {
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

 private:
  void Flush(size_t upto) {
    if (upto > emitted_) {
      if (sink_) sink_(std::string_view(text_).substr(emitted_, upto - emitted_));
      emitted_ = upto;
    }
  }
  const std::vector<std::string>& stop_;
  const std::function<void(std::string_view)>& sink_;
  std::string& text_;
  size_t emitted_ = 0;
};

}  // namespace

std::string_view FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kLength: return "length";
    case FinishReason::kStop: return "stop";
    case FinishReason::kEndOfGeneration: return "eos";
    case FinishReason::kContextFull: return "context_full";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "unknown";
}

bool IsEndOfGeneration(const Vocab& vocab, int32_t id) {
  if (id == vocab.eos || id == vocab.eot || id == vocab.eom) return true;
  if (id < 0 || id >= vocab.size() || vocab.types[static_cast<size_t>(id)] != TokenType::kControl) return false;
  static const char* const kEnders[] = {"<|eot_id|>", "<|eom_id|>", "<|im_end|>",   "<|end|>",
                                        "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "</s>"};
  const std::string& text = vocab.tokens[static_cast<size_t>(id)];
  return std::any_of(std::begin(kEnders), std::end(kEnders), [&](const char* e) { return text == e; });
}

StatusOr<GenerateResult> Generate(Context& ctx, Sampler& sampler, std::span<const int32_t> prompt,
                                  const GenerateOptions& options,
                                  const std::function<void(std::string_view)>& on_text) {
  if (prompt.empty()) return InvalidArgumentError("the prompt has no tokens");
  if (ctx.n_past() + static_cast<int64_t>(prompt.size()) >= ctx.n_ctx()) {
    return OutOfRangeError("the prompt has " + std::to_string(prompt.size()) +
                           " tokens but the context holds " + std::to_string(ctx.n_ctx() - ctx.n_past()) +
                           " (raise -c, or shorten the prompt)");
  }
  const Tokenizer& tok = ctx.model().tokenizer();
  GenerateResult result;
  result.n_prompt = static_cast<int32_t>(prompt.size());
  for (int32_t id : prompt) sampler.Accept(id);

  auto t0 = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::span<const float> logits, ctx.Eval(prompt));
  result.prompt_seconds = SecondsSince(t0);
  t0 = std::chrono::steady_clock::now();

  StopMatcher matcher(options.stop, on_text, result.text);
  result.finish = FinishReason::kLength;
  while (options.max_tokens < 0 || static_cast<int32_t>(result.tokens.size()) < options.max_tokens) {
    if (options.cancel && options.cancel->load()) {
      result.finish = FinishReason::kCancelled;
      break;
    }
    const int32_t id = sampler.Sample(logits);
    if (!options.ignore_eos && IsEndOfGeneration(tok.vocab(), id)) {
      result.finish = FinishReason::kEndOfGeneration;
      break;
    }
    result.tokens.push_back(id);
    sampler.Accept(id);
    if (matcher.Add(tok.TokenToPiece(id, /*render_special=*/false))) {
      result.finish = FinishReason::kStop;
      break;
    }
    if (ctx.n_past() >= ctx.n_ctx()) {
      result.finish = FinishReason::kContextFull;
      break;
    }
    ASSIGN_OR_RETURN(logits, ctx.Eval(std::span<const int32_t>(&id, 1)));
  }
  if (result.finish != FinishReason::kStop) matcher.Finish();
  result.generate_seconds = SecondsSince(t0);
  return result;
}

}  // namespace flotilla
