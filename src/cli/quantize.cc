// flotilla quantize IN.gguf OUT.gguf TYPE [--pure] [-t N]: as llama-quantize.
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "model/quantize.h"

namespace flotilla::cli {
namespace {

struct QuantizeCliOptions {
  std::string in, out, type;
  bool pure = false;
  int n_threads = 0;
};

}  // namespace

void RegisterQuantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeCliOptions>();
  std::string types;
  for (const std::string& t : QuantizeTypeNames()) types += (types.empty() ? "" : ", ") + t;
  CLI::App* cmd = app.add_subcommand("quantize", "Re-encode a model's weights in another type");
  cmd->add_option("in", o->in, "Input GGUF model")->required();
  cmd->add_option("out", o->out, "Output GGUF file")->required();
  cmd->add_option("type", o->type, "Target type: " + types)->required();
  cmd->add_flag("--pure", o->pure, "Every matrix in TYPE (no Q6_K output matrix or *_M mixes)");
  cmd->add_option("-t,--threads", o->n_threads, "Threads (0: one per core)")->capture_default_str();
  cmd->callback([o] {
    if (o->in == o->out) return Finish(InvalidArgumentError("the output must be another file than the input"));
    if (o->n_threads < 0) return Finish(InvalidArgumentError("-t must not be negative"));
    Status s = QuantizeModel(o->in, o->out, o->type,
                             {.pure = o->pure, .n_threads = o->n_threads, .on_tensor = [](size_t done, size_t total) {
                                std::fprintf(stderr, "\rflotilla: quantized %zu/%zu tensors", done, total);
                                if (done == total) std::fprintf(stderr, "\n");
                              }});
    if (s.ok()) std::fprintf(stderr, "flotilla: wrote %s\n", o->out.c_str());
    Finish(s);
  });
}

}  // namespace flotilla::cli
