// flotilla chat -m M: an interactive conversation. Each turn renders the whole history with the
// model's chat template and evaluates only the tokens the KV cache does not hold yet.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "model/generate.h"
#include "tokenizer/chat_template.h"

namespace flotilla::cli {
namespace {

struct ChatOptions {
  ModelFlags model;
  SamplerOptions sampling;
  std::string system;
  int32_t n_predict = -1;
};

// Tokens of the rendered conversation; BOS is added only when the template did not write it.
std::vector<int32_t> TokenizeConversation(const Tokenizer& tok, const std::string& text) {
  const Vocab& v = tok.vocab();
  const bool has_bos_text = v.bos >= 0 && text.rfind(v.tokens[static_cast<size_t>(v.bos)], 0) == 0;
  return tok.Encode(text, /*add_special=*/!has_bos_text, /*parse_special=*/true);
}

size_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
}

// One assistant turn: evaluates the new part of `tokens` and streams the answer to stdout.
StatusOr<std::string> Answer(LoadedModel& m, Sampler& sampler, const std::vector<int32_t>& tokens,
                             std::vector<int32_t>& cached, int32_t n_predict) {
  size_t keep = std::min(CommonPrefix(cached, tokens), tokens.size() - 1);  // evaluate at least one
  m.context->Truncate(static_cast<int32_t>(keep));
  sampler.Reset();
  for (size_t i = 0; i < keep; ++i) sampler.Accept(tokens[i]);
  std::span<const int32_t> fresh(tokens.data() + keep, tokens.size() - keep);
  ASSIGN_OR_RETURN(GenerateResult r,
                   Generate(*m.context, sampler, fresh, {.max_tokens = n_predict, .cancel = &InterruptFlag()},
                            [](std::string_view piece) {
                              std::fwrite(piece.data(), 1, piece.size(), stdout);
                              std::fflush(stdout);
                            }));
  std::printf("\n");
  cached.assign(tokens.begin(), tokens.end());
  cached.insert(cached.end(), r.tokens.begin(), r.tokens.end());
  if (r.finish == FinishReason::kContextFull) {
    std::fprintf(stderr, "flotilla: the context is full; /clear starts a new conversation\n");
  }
  return r.text;
}

Status Run(const ChatOptions& o) {
  ASSIGN_OR_RETURN(LoadedModel m, LoadModel(o.model));
  ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(o.sampling));
  const Tokenizer& tok = m.model->tokenizer();
  std::vector<ChatMessage> history;
  if (!o.system.empty()) history.push_back({"system", o.system});
  std::vector<int32_t> cached;
  std::fprintf(stderr, "flotilla: chatting with %s; /clear forgets the conversation, /bye or Ctrl-D ends\n",
               o.model.model.c_str());
  std::string line;
  while (true) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line) || line == "/bye" || line == "/exit") break;
    if (line == "/clear") {
      history.resize(o.system.empty() ? 0 : 1);
      cached.clear();
      continue;
    }
    if (line.empty()) continue;
    history.push_back({"user", line});
    ASSIGN_OR_RETURN(std::string prompt, ApplyChatTemplate(tok.vocab(), history, true));
    std::vector<int32_t> tokens = TokenizeConversation(tok, prompt);
    StatusOr<std::string> answer = Answer(m, sampler, tokens, cached, o.n_predict);
    if (!answer.ok()) {
      history.pop_back();
      if (answer.status().code() != StatusCode::kOutOfRange) return answer.status();
      std::fprintf(stderr, "flotilla: %s; /clear starts a new conversation\n", answer.status().message().c_str());
      continue;
    }
    history.push_back({"assistant", *answer});
    ResetInterrupt();  // a Ctrl-C during the answer stopped only that answer
  }
  return Status::Ok();
}

}  // namespace

void RegisterChat(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "Talk with a model (reads one message per line from stdin)");
  AddModelFlags(*cmd, o->model);
  AddSamplingFlags(*cmd, o->sampling);
  cmd->add_option("--system-prompt,--system", o->system, "System message that starts the conversation");
  cmd->add_option("-n,--n-predict", o->n_predict, "Longest answer in tokens (-1: until end of turn)")
      ->capture_default_str();
  cmd->callback([o] { Finish(Run(*o)); });
}

}  // namespace flotilla::cli
