#include "cli/commands.h"

#include <cstdio>

namespace flotilla::cli {
namespace {
int exit_code = 0;
}  // namespace

void RegisterCommands(CLI::App& app) {
  RegisterInspect(app);
  RegisterTokenize(app);
  RegisterVocabImport(app);
  RegisterInit(app);
  RegisterRun(app);
  RegisterPerplexity(app);
  RegisterQuantize(app);
  RegisterChat(app);
  RegisterPull(app);
  RegisterBench(app);
  RegisterClassifyCommands(app);
  RegisterLog(app);
  RegisterServe(app);
  RegisterTrainLm(app);
  RegisterDistill(app);
}

void Finish(const Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "flotilla: %s\n", status.message().c_str());
    exit_code = status.code() == StatusCode::kCancelled ? 130 : 1;  // 130: interrupted, as shells report
  }
}

int ExitCode() { return exit_code; }

}  // namespace flotilla::cli
