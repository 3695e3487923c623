// flotilla run -m M -p PROMPT -n N: streams the generated text to stdout; logs go to stderr.
#include <cstdio>
#include <string>

#include "base/file_util.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "model/generate.h"

namespace flotilla::cli {
namespace {

struct RunOptions {
  ModelFlags model;
  SamplerOptions sampling;
  std::string prompt;
  std::string prompt_file;
  int32_t n_predict = -1;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool truncate = false;
  bool no_special = false;
};

Status Run(const RunOptions& o) {
  if (!o.prompt.empty() && !o.prompt_file.empty()) return InvalidArgumentError("give -p or -f, not both");
  std::string prompt = o.prompt;
  if (!o.prompt_file.empty()) {
    ASSIGN_OR_RETURN(prompt, ReadFileToString(o.prompt_file));
  }
  ASSIGN_OR_RETURN(LoadedModel m, LoadModel(o.model));
  ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(o.sampling));
  std::vector<int32_t> ids = m.model->tokenizer().Encode(prompt, true, !o.no_special);
  if (ids.empty()) return InvalidArgumentError("the prompt is empty and the model adds no BOS token");
  const int32_t room = m.context->n_ctx() - 1;
  if (static_cast<int32_t>(ids.size()) > room) {
    if (!o.truncate) {
      return OutOfRangeError("the prompt has " + std::to_string(ids.size()) + " tokens but the context holds " +
                             std::to_string(m.context->n_ctx()) + "; raise -c or pass --truncate");
    }
    std::fprintf(stderr, "flotilla: prompt truncated to its last %d tokens\n", room);
    ids.erase(ids.begin(), ids.end() - room);
  }
  GenerateOptions gen{.max_tokens = o.n_predict, .stop = o.stop, .ignore_eos = o.ignore_eos,
                      .cancel = &InterruptFlag()};
  ASSIGN_OR_RETURN(GenerateResult r, Generate(*m.context, sampler, ids, gen, [](std::string_view piece) {
                     std::fwrite(piece.data(), 1, piece.size(), stdout);
                     std::fflush(stdout);
                   }));
  std::printf("\n");
  std::fprintf(stderr, "flotilla: prompt %d tokens in %.3f s (%.1f t/s), generated %zu tokens in %.3f s (%.1f t/s), finish: %s\n",
               r.n_prompt, r.prompt_seconds, r.prompt_seconds > 0 ? r.n_prompt / r.prompt_seconds : 0.0,
               r.tokens.size(), r.generate_seconds,
               r.generate_seconds > 0 ? r.tokens.size() / r.generate_seconds : 0.0,
               std::string(FinishReasonName(r.finish)).c_str());
  if (r.finish == FinishReason::kCancelled) return Status(StatusCode::kCancelled, "interrupted");
  return Status::Ok();
}

}  // namespace

void RegisterRun(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt, streamed to stdout");
  AddModelFlags(*cmd, o->model);
  AddSamplingFlags(*cmd, o->sampling);
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text");
  cmd->add_option("-f,--file", o->prompt_file, "Read the prompt from this file");
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate (-1: until end of text or context)")
      ->capture_default_str();
  cmd->add_option("--stop", o->stop, "Stop before this string (repeatable)");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past end-of-text tokens");
  cmd->add_flag("--truncate", o->truncate, "Keep the end of a prompt longer than the context");
  cmd->add_flag("--no-parse-special", o->no_special, "Treat special-token text in the prompt as plain text");
  cmd->callback([o] { Finish(Run(*o)); });
}

}  // namespace flotilla::cli
