// flotilla pull URL|hf://ORG/REPO/FILE [-o OUT] [--sha256 HEX] [--force]: downloads a model file with
// resume, a progress bar and an optional checksum (the work is done by base/download.h).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <sys/stat.h>

#include "base/download.h"
#include "base/progress.h"
#include "cli/commands.h"

namespace flotilla::cli {
namespace {

struct PullOptions {
  std::string source;
  std::string output;
  std::string sha256;
  bool force = false;
  bool quiet = false;
  long stall_timeout_s = 60;
  long connect_timeout_s = 30;
};

// Set by SIGINT/SIGTERM while a download runs; Download() then stops and keeps the .part.
std::atomic<bool> interrupted{false};
void OnSignal(int) { interrupted = true; }

// Installs OnSignal for SIGINT and SIGTERM for the lifetime of the object.
class SignalScope {
 public:
  SignalScope() {
    struct sigaction sa {};
    sa.sa_handler = &OnSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// -o FILE as given; -o DIR (an existing directory, or a path ending in '/') gets the URL's file name
// inside it; no -o: the URL's file name in the current directory.
StatusOr<std::string> OutputPath(const PullOptions& opts, const ModelUrl& url) {
  bool dir = opts.output.empty() || opts.output.back() == '/' || IsDirectory(opts.output);
  if (!dir) return opts.output;
  if (url.file_name.empty()) {
    return InvalidArgumentError("cannot tell a file name from " + url.url + "; name the output with -o FILE");
  }
  if (opts.output.empty()) return url.file_name;
  return opts.output + (opts.output.back() == '/' ? "" : "/") + url.file_name;
}

Status Pull(const PullOptions& opts) {
  ASSIGN_OR_RETURN(ModelUrl url, ResolveModelUrl(opts.source));
  DownloadRequest req;
  req.url = url.url;
  ASSIGN_OR_RETURN(req.output_path, OutputPath(opts, url));
  req.sha256 = opts.sha256;
  req.force = opts.force;
  req.low_speed_time_s = opts.stall_timeout_s;
  req.connect_timeout_s = opts.connect_timeout_s;
  if (const char* token = std::getenv("HF_TOKEN"); url.hugging_face && token != nullptr) req.bearer_token = token;
  interrupted = false;
  req.cancel = &interrupted;

  std::unique_ptr<ProgressBar> bar;
  if (!opts.quiet) {
    req.on_progress = [&bar, &req](uint64_t done, uint64_t total) {
      if (bar == nullptr) {
        ProgressOptions po;
        po.label = req.output_path.substr(req.output_path.rfind('/') + 1);  // npos + 1 == 0
        bar = std::make_unique<ProgressBar>(total, po);
        bar->SetBaseline(done);  // bytes resumed from the .part do not count toward the rate
      }
      bar->SetTotal(total);
      bar->Update(done);
    };
  }
  StatusOr<DownloadResult> result = [&] {
    SignalScope signals;
    return Download(req);
  }();
  bar.reset();  // finishes the bar's line before any message
  RETURN_IF_ERROR(result.status());
  if (result->skipped) {
    std::printf("%s already exists%s; use --force to download it again\n", req.output_path.c_str(),
                result->sha256.empty() ? "" : " and its sha256 matches");
    return Status::Ok();
  }
  std::printf("saved %s (%s%s, sha256 %s)\n", req.output_path.c_str(), FormatBytes(result->bytes).c_str(),
              result->resumed_from > 0 ? (", resumed at " + FormatBytes(result->resumed_from)).c_str() : "",
              result->sha256.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterPull(CLI::App& app) {
  auto opts = std::make_shared<PullOptions>();
  CLI::App* cmd = app.add_subcommand("pull", "Download a model file (GGUF) over HTTP(S) or from the Hugging Face hub");
  cmd->footer(
      "SOURCE is an http(s):// URL or hf://ORG/REPO/FILE, fetched from\n"
      "$HF_ENDPOINT/ORG/REPO/resolve/REV/FILE (HF_ENDPOINT defaults to https://huggingface.co; REV to main,\n"
      "or give it as hf://ORG/REPO@REV/FILE or hf://ORG/REPO/FILE@REV). For hf:// the token in HF_TOKEN is\n"
      "sent for gated and private repositories.\n"
      "Without -o the file is saved under its name from the URL in the current directory (as wget does);\n"
      "-o names the file, or a directory to save it in.\n"
      "Bytes go to OUT.part first: an interrupted download (Ctrl-C, network failure) resumes from it when\n"
      "run again, and OUT appears only once complete (and matching --sha256 when given). An existing OUT is\n"
      "kept unless --force.");
  cmd->add_option("source", opts->source, "http(s):// URL or hf://ORG/REPO/FILE")->required();
  cmd->add_option("-o,--output", opts->output, "Output file or directory (default: the URL's file name in .)");
  cmd->add_option("--sha256", opts->sha256, "Expected SHA-256 (64 hex digits); a mismatch deletes the download");
  cmd->add_flag("-f,--force", opts->force, "Download again even if the output file exists (discards a .part)");
  cmd->add_flag("-q,--quiet", opts->quiet, "No progress bar");
  cmd->add_option("--stall-timeout", opts->stall_timeout_s,
                  "Give up when under 1 KiB/s for this many seconds (the .part is kept)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--connect-timeout", opts->connect_timeout_s, "Seconds to wait for a connection")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([opts] { Finish(Pull(*opts)); });
}

}  // namespace flotilla::cli
