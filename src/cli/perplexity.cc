// flotilla perplexity -m M -f FILE [-c N]: perplexity of a text, as llama-perplexity computes it.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "model/perplexity.h"

namespace flotilla::cli {
namespace {

struct PerplexityOptions {
  ModelFlags model;
  std::string file;
  bool json = false;
};

Status Run(PerplexityOptions o) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(o.file));
  if (o.model.n_ctx == 0) o.model.n_ctx = 512;  // llama-perplexity's default
  ASSIGN_OR_RETURN(LoadedModel m, LoadModel(o.model));
  std::vector<int32_t> tokens = m.model->tokenizer().Encode(text, true, false);
  std::fprintf(stderr, "flotilla: %zu tokens, chunks of %d\n", tokens.size(), m.context->n_ctx());
  ASSIGN_OR_RETURN(PerplexityResult r,
                   ComputePerplexity(*m.context, tokens, m.context->n_ctx(),
                                     [](int32_t i, int32_t n, double ppl) {
                                       std::fprintf(stderr, "\r[%d/%d] perplexity %.4f", i + 1, n, ppl);
                                       if (i + 1 == n) std::fprintf(stderr, "\n");
                                     },
                                     &InterruptFlag()));
  if (o.json) {
    nlohmann::json j = {{"perplexity", r.perplexity}, {"perplexity_error", r.perplexity_error},
                        {"n_chunks", r.n_chunks}, {"n_ctx", m.context->n_ctx()}, {"n_scored", r.n_scored}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("Final estimate: PPL = %.4f +/- %.5f (%d chunks of %d tokens)\n", r.perplexity,
                r.perplexity_error, r.n_chunks, m.context->n_ctx());
  }
  return Status::Ok();
}

}  // namespace

void RegisterPerplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity of a model on a text file");
  AddModelFlags(*cmd, o->model);
  cmd->add_option("-f,--file", o->file, "Text file")->required();
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->callback([o] { Finish(Run(*o)); });
}

}  // namespace flotilla::cli
