// Runs the flotilla binary in tests: captures stdout and stderr, the exit code and the child's peak
// resident memory.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace flotilla::testutil {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  long max_rss_kb = 0;
};

inline std::string ReadWholeFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Runs `FLOTILLA_BIN args` through /bin/sh (args are shell words), stdin from `stdin_file` if given.
inline CliResult RunCli(const std::string& args, const std::filesystem::path& scratch,
                        const std::string& stdin_file = "/dev/null") {
  const std::string out = (scratch / "cli.stdout").string(), err = (scratch / "cli.stderr").string();
  const std::string cmd = std::string("exec ") + FLOTILLA_BIN + " " + args + " <" + stdin_file + " >" + out + " 2>" + err;
  CliResult r;
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.max_rss_kb = usage.ru_maxrss;
  r.out = ReadWholeFile(out);
  r.err = ReadWholeFile(err);
  return r;
}

}  // namespace flotilla::testutil
