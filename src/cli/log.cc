// flotilla log export --db F [-o out.jsonl]: the request log's successful exchanges as training JSONL.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/commands.h"
#include "store/request_log.h"

namespace flotilla::cli {
namespace {

struct ExportOptions {
  std::string db;
  std::string out;  // "" or "-": stdout
};

Status Export(const ExportOptions& o) {
  if (!std::filesystem::exists(o.db)) return NotFoundError("no request log at " + o.db);
  ASSIGN_OR_RETURN(std::unique_ptr<RequestLog> log, RequestLog::Open(o.db));
  std::ofstream file;
  const bool to_stdout = o.out.empty() || o.out == "-";
  if (!to_stdout) {
    file.open(o.out, std::ios::binary | std::ios::trunc);
    if (!file) return UnavailableError("cannot write " + o.out);
  }
  ASSIGN_OR_RETURN(int64_t n, ExportTrainingJsonl(*log, [&](std::string_view line) {
                     if (to_stdout) {
                       std::fwrite(line.data(), 1, line.size(), stdout);
                       std::fputc('\n', stdout);
                     } else {
                       file << line << '\n';
                     }
                   }));
  if (!to_stdout) {
    file.close();
    if (!file) return UnavailableError("error writing " + o.out);
  }
  std::fprintf(stderr, "flotilla: exported %lld exchanges\n", static_cast<long long>(n));
  return Status::Ok();
}

}  // namespace

void RegisterLog(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("log", "Read the server's request log");
  cmd->require_subcommand(1);
  auto o = std::make_shared<ExportOptions>();
  CLI::App* exp = cmd->add_subcommand("export", "Write successful chat/completion exchanges as training JSONL");
  exp->add_option("--db", o->db, "Request log (SQLite) written by flotilla serve")->required();
  exp->add_option("-o,--output", o->out, "Output file (default: stdout)");
  exp->callback([o] { Finish(Export(*o)); });
}

}  // namespace flotilla::cli
