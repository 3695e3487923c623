// flotilla <command>: parses flags and calls the library. Each command lives in its own file and
// registers itself through commands.h.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"flotilla: small, specialized language models on ordinary CPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "flotilla 0.1.0");
  flotilla::cli::RegisterCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return flotilla::cli::ExitCode();
}
