// End to end: `flotilla serve FLEET.toml` with stories260K specialists, a router classifier this test
// trains, and a second `flotilla serve -m` on loopback as the upstream; driven by the official `openai`
// npm client (tests/openai_client/fleet.test.mjs) and checked through /metrics and the request log.
// Skips without ../shared (stories260K) or without node/npm.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "cli_test_util.h"
#include "shared_dir.h"
#include "store/request_log.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;

// A `flotilla ARGS` child process that prints "on http://127.0.0.1:PORT" once it listens.
class Process {
 public:
  Process(const std::string& args, const fs::path& err) : err_(err) {
    const std::string cmd = std::string("exec ") + FLOTILLA_BIN + " " + args + " 2>" + err.string();
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 300 && port_ == 0; ++i) {  // at most 30 s
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const std::string text = testutil::ReadWholeFile(err_);
      const std::string marker = "on http://127.0.0.1:";
      if (size_t at = text.find(marker); at != std::string::npos) port_ = std::stoi(text.substr(at + marker.size()));
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
    }
  }
  ~Process() { Stop(); }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Stderr() const { return testutil::ReadWholeFile(err_); }

 private:
  fs::path err_;
  pid_t pid_ = -1;
  int port_ = 0;
};

int Shell(const std::string& cmd) {
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// Router training data: story requests and support tickets, from a few phrases each.
void WriteRouterData(const fs::path& path) {
  const char* stories[] = {"tell me a story about", "once upon a time there was", "a bedtime tale of",
                           "write a short story where", "tell me about the adventures of"};
  const char* tickets[] = {"my card was charged twice for", "i want a refund for", "please cancel my booking of",
                           "i lost my bag on", "why is there a fee on"};
  const char* things[] = {"the little red boat", "a brave fox", "the ferry ticket", "the old lighthouse",
                          "my season pass", "the harbor cat", "the evening ferry", "a dragon"};
  std::ofstream out(path);
  out << "text,label\n";
  for (const char* s : stories) {
    for (const char* t : things) out << s << " " << t << ",story\n";
  }
  for (const char* s : tickets) {
    for (const char* t : things) out << s << " " << t << ",support\n";
  }
}

void WriteFleet(const fs::path& path, const std::string& model, const std::string& upstream_url,
                const std::string& on_failure) {
  std::ofstream(path) << "log = \"" << path.stem().string() << ".sqlite\"\n"
                      << "[[specialist]]\nname = \"teller\"\nmodel = \"" << model << "\"\nthreshold = 1.0\ncontext = 256\n"
                      << "threads = 1\n"
                      << "[[specialist]]\nname = \"stories\"\nmodel = \"" << model << "\"\ncontext = 256\nthreads = 1\n"
                      << "[[specialist]]\nname = \"intent\"\nkind = \"classifier\"\nmodel = \"router.gguf\"\n"
                      << "[router]\nmodel = \"router.gguf\"\nroutes = { story = \"teller\", support = \"intent\" }\n"
                      << "[upstream]\nbase_url = \"" << upstream_url << "/v1\"\nmodel = \"big\"\n"
                      << "input_price_per_million = 1.0\noutput_price_per_million = 2.0\ntimeout_seconds = 20\n"
                      << "on_failure = \"" << on_failure << "\"\n";
}

// Runs fleet.test.mjs against `url` for one phase; returns its exit code (output in `log`).
int RunClient(const fs::path& work, const std::string& url, const std::string& phase) {
  const fs::path log = work / ("node-" + phase + ".log");
  int rc = Shell("cd " + work.string() + " && FLOTILLA_URL=" + url + " FLEET_PHASE=" + phase +
                 " node --test fleet.test.mjs >" + log.string() + " 2>&1");
  if (rc != 0) std::fprintf(stderr, "%s\n", testutil::ReadWholeFile(log).c_str());
  return rc;
}

double Metric(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
}

TEST(FleetE2eTest, RoutingEscalationFallbackAndErrors) {
  SKIP_WITHOUT_SHARED(shared);
  const fs::path model = fs::path(shared) / "models/stories260K/stories260K-f32.gguf";
  if (!fs::exists(model)) GTEST_SKIP() << "no " << model;
  if (Shell("command -v node >/dev/null && command -v npm >/dev/null") != 0) GTEST_SKIP() << "node/npm not found";
  const fs::path work = fs::path(FLOTILLA_BIN).parent_path().parent_path() / "tests/fleet_client";  // build/tests
  fs::create_directories(work);
  const fs::path src = fs::path(FLOTILLA_SOURCE_DIR) / "tests/openai_client";
  for (const char* f : {"package.json", "package-lock.json", "fleet.test.mjs"}) {
    fs::copy_file(src / f, work / f, fs::copy_options::overwrite_existing);
  }
  if (!fs::exists(work / "node_modules/openai")) {
    ASSERT_EQ(Shell("cd " + work.string() + " && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1"), 0)
        << testutil::ReadWholeFile(work / "npm.log");
  }
  const fs::path dir = fs::temp_directory_path() / ("flotilla_fleet_e2e_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  WriteRouterData(dir / "router.csv");
  testutil::CliResult trained =
      testutil::RunCli("train classify --train " + (dir / "router.csv").string() + " -o " + (dir / "router.gguf").string(), dir);
  ASSERT_EQ(trained.exit_code, 0) << trained.err;

  auto upstream = std::make_unique<Process>("serve -m " + model.string() + " -a big --port 0 -t 1 --no-log",
                                            dir / "upstream.stderr");
  ASSERT_NE(upstream->port(), 0) << upstream->Stderr();
  const std::string upstream_url = upstream->Url();
  WriteFleet(dir / "fleet.toml", model.string(), upstream_url, "fallback");
  Process fleet("serve " + (dir / "fleet.toml").string() + " --port 0", dir / "fleet.stderr");
  ASSERT_NE(fleet.port(), 0) << fleet.Stderr();

  EXPECT_EQ(RunClient(work, fleet.Url(), "up"), 0);
  upstream.reset();  // the upstream goes down: refused from now on
  EXPECT_EQ(RunClient(work, fleet.Url(), "fallback"), 0);

  httplib::Client c("127.0.0.1", fleet.port());
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  const std::string& m = metrics->body;
  EXPECT_EQ(Metric(m, "flotilla_escalations_total{reason=\"router_confidence\"}"), 4);  // 2 answered, 2 fell back
  EXPECT_EQ(Metric(m, "flotilla_upstream_errors_total{kind=\"connect\"}"), 2);
  EXPECT_GE(Metric(m, "flotilla_routed_total{route=\"escalated\",specialist=\"teller\"}"), 2);
  EXPECT_EQ(Metric(m, "flotilla_routed_total{route=\"fallback\",specialist=\"teller\"}"), 2);
  EXPECT_GT(Metric(m, "flotilla_cost_usd_total"), 0);     // the upstream's tokens at its prices
  EXPECT_GT(Metric(m, "flotilla_savings_usd_total"), 0);  // local answers priced at the upstream's rates

  // The request log has every decision, with specialist, confidence and cost.
  fleet.Stop();
  StatusOr<std::unique_ptr<RequestLog>> log = RequestLog::Open((dir / "fleet.sqlite").string());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  std::map<std::string, int> routes;
  bool escalated_cost = false;
  ASSERT_TRUE((*log)->ForEach([&](const RequestRecord& r) {
                      if (r.http_status != 200 || r.endpoint != "chat.completions") return Status::Ok();
                      ++routes[r.route];
                      if (r.route == "escalated") {
                        EXPECT_EQ(r.answered_by, "big");
                        EXPECT_EQ(r.specialist, "teller");
                        EXPECT_GT(r.confidence, 0);
                        EXPECT_NE(r.route_reason.find("escalated to big"), std::string::npos);
                        escalated_cost |= r.cost_usd > 0;
                      }
                      return Status::Ok();
                    }).ok());
  EXPECT_EQ(routes["escalated"], 2);
  EXPECT_EQ(routes["fallback"], 2);
  EXPECT_GE(routes["local"], 3);
  EXPECT_TRUE(escalated_cost);

  // on_failure = "error": the same escalation is a 502.
  WriteFleet(dir / "strict.toml", model.string(), upstream_url, "error");
  Process strict("serve " + (dir / "strict.toml").string() + " --port 0", dir / "strict.stderr");
  ASSERT_NE(strict.port(), 0) << strict.Stderr();
  EXPECT_EQ(RunClient(work, strict.Url(), "error"), 0);
  strict.Stop();
  fs::remove_all(dir);
}

// Bad fleet files fail at start with one line naming the file and the line.
TEST(FleetE2eTest, BadFleetFilesFailWithOneLine) {
  const fs::path dir = fs::temp_directory_path() / ("flotilla_fleet_bad_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "bad.toml") << "[[specialist]]\nname = \"a\"\nmodel = \"missing.gguf\"\n";
  testutil::CliResult r = testutil::RunCli("serve " + (dir / "bad.toml").string() + " --port 0", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.toml:3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no model file"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = testutil::RunCli("serve " + (dir / "absent.toml").string(), dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no fleet file"), std::string::npos) << r.err;
  r = testutil::RunCli("serve", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("give either -m M.gguf or a fleet file"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace flotilla
