// Registration of the CLI commands. A command's callback stores its exit status with SetExitCode;
// errors are printed as one line "flotilla: <reason>" on stderr.
#pragma once

#include <CLI/CLI.hpp>

#include "flotilla/status.h"

namespace flotilla::cli {

void RegisterCommands(CLI::App& app);
void RegisterInspect(CLI::App& app);
void RegisterTokenize(CLI::App& app);
void RegisterVocabImport(CLI::App& app);
void RegisterInit(CLI::App& app);
void RegisterRun(CLI::App& app);
void RegisterPerplexity(CLI::App& app);
void RegisterQuantize(CLI::App& app);
void RegisterChat(CLI::App& app);
void RegisterPull(CLI::App& app);
void RegisterBench(CLI::App& app);
void RegisterClassifyCommands(CLI::App& app);  // train classify, eval classify, classify
void RegisterLog(CLI::App& app);
void RegisterServe(CLI::App& app);
void RegisterTrainLm(CLI::App& app);  // train (a language model), on the parent shared with train classify
void RegisterDistill(CLI::App& app);  // distill: logit (GGUF teacher) or sequence-level (HTTP teacher)

// Prints `status` as "flotilla: <message>" when not OK and records the exit code (0, 1, or 130 when cancelled by Ctrl-C).
void Finish(const Status& status);
int ExitCode();

}  // namespace flotilla::cli
