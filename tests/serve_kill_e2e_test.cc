// Issue 7, request log: nothing acknowledged is lost when the server is killed with SIGKILL under
// load. Starts `flotilla serve --parallel 4 --db DB` on a generated model, runs 16 concurrent clients
// (chat, streamed chat, completions, embeddings, some malformed bodies), SIGKILLs the server while
// they are busy, then reopens the database: it passes PRAGMA integrity_check and holds a row for
// every request whose response a client received completely.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "model/test_model.h"
#include "store/request_log.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kClients = 16;

// Starts the server; returns its pid and sets *port (0 when it did not come up within 20 s).
pid_t StartServer(const fs::path& db, const fs::path& err, int* port) {
  const std::string cmd = std::string("exec ") + FLOTILLA_BIN + " serve -m " + testutil::TinyModelPath() +
                          " --port 0 -t 1 --parallel 4 --queue 64 -c 512 --max-tokens 64 --db " + db.string() +
                          " 2>" + err.string();
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  *port = 0;
  for (int i = 0; i < 200 && *port == 0; ++i) {
    std::this_thread::sleep_for(100ms);
    const std::string text = testutil::ReadWholeFile(err);
    const std::string marker = "on http://127.0.0.1:";
    if (size_t at = text.find(marker); at != std::string::npos) *port = std::stoi(text.substr(at + marker.size()));
  }
  return pid;
}

// One client request carrying `tag` in its body; true when the whole response arrived (any status:
// errors are logged too). A stream is complete at its "[DONE]" or error event.
bool Send(httplib::Client& c, const std::string& model, int kind, const std::string& tag) {
  const std::string text = "the boat " + tag;
  json body;
  std::string path = "/v1/chat/completions";
  switch (kind % 5) {
    case 0:
      body = {{"model", model}, {"messages", {{{"role", "user"}, {"content", text}}}}, {"max_tokens", 24}};
      break;
    case 1:
      body = {{"model", model}, {"messages", {{{"role", "user"}, {"content", text}}}}, {"max_tokens", 24},
              {"stream", true}};
      break;
    case 2:
      path = "/v1/completions";
      body = {{"model", model}, {"prompt", text}, {"max_tokens", 16}};
      break;
    case 3:
      path = "/v1/embeddings";
      body = {{"model", model}, {"input", {text, "the sea"}}};
      break;
    default: {  // malformed: a 400 that must be logged as well
      auto r = c.Post(path, "{\"model\": \"" + model + "\", \"messages\": \"" + tag + "\"", "application/json");
      return r && r->status == 400;
    }
  }
  if (kind % 5 != 1) {
    auto r = c.Post(path, body.dump(), "application/json");
    return r && !r->body.empty() && json::accept(r->body);
  }
  std::string received;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received.append(data, n);
    return true;
  };
  auto r = c.send(req);
  return r && r->status == 200 && received.find("data: [DONE]") != std::string::npos;
}

std::string IntegrityCheck(const fs::path& db) {
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    return "cannot open";
  }
  std::string result;
  sqlite3_exec(
      h, "PRAGMA integrity_check",
      [](void* out, int, char** values, char**) {
        *static_cast<std::string*>(out) += values[0] ? values[0] : "NULL";
        return 0;
      },
      &result, nullptr);
  sqlite3_close(h);
  return result;
}

TEST(ServeKillTest, AcknowledgedRequestsSurviveSigkillUnderLoad) {
  const fs::path dir = fs::temp_directory_path() / ("flotilla_serve_kill_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path db = dir / "log.sqlite", err = dir / "serve.stderr";
  int port = 0;
  const pid_t pid = StartServer(db, err, &port);
  ASSERT_NE(port, 0) << testutil::ReadWholeFile(err);
  const std::string model = fs::path(testutil::TinyModelPath()).stem().string();

  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::atomic<int> sent{0};
  std::atomic<bool> killed{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(10, 0);
      c.set_connection_timeout(2, 0);
      for (int i = 0; !killed.load(); ++i) {
        const std::string tag = "[k" + std::to_string(t) + "x" + std::to_string(i) + "]";
        ++sent;
        if (Send(c, model, t + i, tag)) {
          std::lock_guard<std::mutex> lock(mutex);
          acknowledged.insert(tag);
        }
      }
    });
  }
  // Kill mid-load: once a good number of requests were answered, or after 10 s at most.
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(100ms);
    std::lock_guard<std::mutex> lock(mutex);
    if (acknowledged.size() >= 120) break;
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  killed = true;
  for (auto& c : clients) c.join();
  // Every complete response was sent before the kill (a cut one fails to parse or lacks [DONE]).
  const std::set<std::string> acked = acknowledged;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_GE(acked.size(), 20u) << "too little load before the kill";
  EXPECT_LT(acked.size(), static_cast<size_t>(sent.load())) << "the kill should interrupt requests in flight";

  EXPECT_EQ(IntegrityCheck(db), "ok");
  auto log = RequestLog::Open(db.string());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  std::set<std::string> logged;
  ASSERT_TRUE((*log)->ForEach([&](const RequestRecord& r) {
                      for (size_t at = r.request_json.find("[k"); at != std::string::npos;
                           at = r.request_json.find("[k", at + 1)) {
                        logged.insert(r.request_json.substr(at, r.request_json.find(']', at) - at + 1));
                      }
                      return Status::Ok();
                    }).ok());
  std::printf("acknowledged %zu of %d requests sent; %zu tagged requests in the log\n", acked.size(), sent.load(),
              logged.size());
  std::vector<std::string> lost;
  for (const std::string& tag : acked) {
    if (!logged.count(tag)) lost.push_back(tag);
  }
  EXPECT_TRUE(lost.empty()) << lost.size() << " acknowledged requests are missing from the log, e.g. " << lost[0];
  fs::remove_all(dir);
}

}  // namespace
}  // namespace flotilla
