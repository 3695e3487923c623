// End to end: `flotilla serve` on a loopback port with a generated tiny model, driven by a raw HTTP
// client (cpp-httplib): chat, completions, streaming, models, health, metrics, errors, API keys,
// the 429 queue limit, client disconnects and the request log.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
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

constexpr char kKey[] = "test-secret";

// A `flotilla serve` child process on a free loopback port.
class ServerProcess {
 public:
  ServerProcess(const fs::path& scratch, const std::string& extra_flags) : scratch_(scratch) {
    fs::create_directories(scratch);
    err_ = scratch / "serve.stderr";
    db_ = scratch / "log.sqlite";
    const std::string cmd = std::string("exec ") + FLOTILLA_BIN + " serve -m " + testutil::TinyModelPath() +
                            " --port 0 -t 1 --db " + db_.string() + " " + extra_flags + " 2>" + err_.string();
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200 && port_ == 0; ++i) {  // at most 20 s
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const std::string err = testutil::ReadWholeFile(err_);
      const std::string marker = "on http://127.0.0.1:";
      if (size_t at = err.find(marker); at != std::string::npos) port_ = std::stoi(err.substr(at + marker.size()));
    }
  }
  ~ServerProcess() {
    if (pid_ > 0) Stop();
  }
  // SIGTERM; returns the exit status.
  int Stop() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  int port() const { return port_; }
  const fs::path& db() const { return db_; }
  std::string stderr_text() const { return testutil::ReadWholeFile(err_); }

  httplib::Client Client(bool with_key = true) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    if (with_key) c.set_bearer_token_auth(kKey);
    return c;
  }

 private:
  fs::path scratch_, err_, db_;
  pid_t pid_ = -1;
  int port_ = 0;
};

std::string ModelName() { return fs::path(testutil::TinyModelPath()).stem().string(); }

json Chat(const std::string& extra = "") {
  return json::parse(R"({"model":")" + ModelName() +
                     R"(","messages":[{"role":"user","content":"the boat"}],"max_tokens":8,"seed":3)" + extra + "}");
}

class ServeE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess(fs::temp_directory_path() / ("flotilla_serve_e2e_" + std::to_string(getpid())),
                                std::string("--api-key ") + kKey + " --max-tokens 2000 -c 2048 --body-limit 65536");
  }
  static void TearDownTestSuite() { delete server_; }
  void SetUp() override { ASSERT_NE(server_->port(), 0) << server_->stderr_text(); }
  static ServerProcess* server_;
};
ServerProcess* ServeE2eTest::server_ = nullptr;

void ExpectOpenAiError(const httplib::Result& r, int status) {
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, status) << r->body;
  json j = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r->body;
  ASSERT_TRUE(j.contains("error")) << r->body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_TRUE(j["error"]["type"].is_string());
  EXPECT_TRUE(j["error"].contains("param"));
  EXPECT_TRUE(j["error"].contains("code"));
}

TEST_F(ServeE2eTest, HealthNeedsNoKeyModelsDo) {
  auto h = server_->Client(false).Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  ExpectOpenAiError(server_->Client(false).Get("/v1/models"), 401);
  httplib::Client wrong("127.0.0.1", server_->port());
  wrong.set_bearer_token_auth("test-secreT");
  ExpectOpenAiError(wrong.Get("/v1/models"), 401);
  auto m = server_->Client().Get("/v1/models");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  json j = json::parse(m->body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], ModelName());
}

TEST_F(ServeE2eTest, ChatCompletion) {
  auto r = server_->Client().Post("/v1/chat/completions", Chat().dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], ModelName());
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
  const std::string finish = j["choices"][0]["finish_reason"];
  EXPECT_TRUE(finish == "stop" || finish == "length") << finish;
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_LE(j["usage"]["completion_tokens"].get<int>(), 8);
  EXPECT_EQ(j["flotilla"]["answered_by"], ModelName());
  EXPECT_EQ(j["flotilla"]["route"], "local");
  // The same seed gives the same answer.
  auto again = server_->Client().Post("/v1/chat/completions", Chat().dump(), "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(json::parse(again->body)["choices"][0]["message"], j["choices"][0]["message"]);
}

TEST_F(ServeE2eTest, CompletionWithStopAndGreedy) {
  json req = {{"model", ModelName()}, {"prompt", "the boat and the"}, {"max_tokens", 12}, {"temperature", 0}};
  auto r = server_->Client().Post("/v1/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  const std::string text = j["choices"][0]["text"];
  // Stop at an ASCII character of the greedy text: the answer is the text before its first occurrence.
  size_t at = 1;
  while (at < text.size() && static_cast<unsigned char>(text[at]) >= 0x80) ++at;
  if (at < text.size()) {
    const std::string stop = text.substr(at, 1);
    req["stop"] = stop;
    auto s = server_->Client().Post("/v1/completions", req.dump(), "application/json");
    ASSERT_TRUE(s);
    json sj = json::parse(s->body);
    EXPECT_EQ(sj["choices"][0]["text"], text.substr(0, text.find(stop)));
    EXPECT_EQ(sj["choices"][0]["finish_reason"], "stop");
  }
}

TEST_F(ServeE2eTest, StreamingSendsChunksThenDone) {
  std::string body;
  auto r = server_->Client().Post(
      "/v1/chat/completions", httplib::Headers{}, Chat(R"(,"stream":true,"stream_options":{"include_usage":true})").dump(),
      "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  std::vector<json> chunks;
  bool done = false;
  size_t pos = 0;
  while ((pos = r->body.find("data: ", pos)) != std::string::npos) {
    size_t end = r->body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    std::string data = r->body.substr(pos + 6, end - pos - 6);
    if (data == "[DONE]") {
      done = true;
    } else {
      chunks.push_back(json::parse(data));
    }
    pos = end;
  }
  ASSERT_TRUE(done);
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(chunks.back()["usage"]["completion_tokens"].get<int>() > 0, true);
  EXPECT_FALSE(chunks[chunks.size() - 2]["choices"][0]["finish_reason"].is_null());
  for (const json& c : chunks) EXPECT_EQ(c["object"], "chat.completion.chunk");
}

TEST_F(ServeE2eTest, JsonObjectModeProducesJsonPrefix) {
  auto r = server_->Client().Post(
      "/v1/chat/completions", Chat(R"(,"response_format":{"type":"json_object"},"max_tokens":40)").dump(),
      "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  const std::string text = j["choices"][0]["message"]["content"];
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find_first_not_of(" \n\t\r"), text.find('{'));  // starts with an object
  if (j["choices"][0]["finish_reason"] == "stop") {
    EXPECT_TRUE(json::accept(text)) << text;
  }
}

TEST_F(ServeE2eTest, ErrorsAreOpenAiShaped) {
  auto c = server_->Client();
  ExpectOpenAiError(c.Post("/v1/chat/completions", "{not json", "application/json"), 400);
  ExpectOpenAiError(c.Post("/v1/chat/completions", R"({"model":"x"})", "application/json"), 400);
  ExpectOpenAiError(c.Post("/v1/chat/completions", Chat(R"(,"temperature":9)").dump(), "application/json"), 400);
  ExpectOpenAiError(c.Post("/v1/chat/completions", Chat(R"(,"max_tokens":5000)").dump(), "application/json"), 400);
  json other = Chat();
  other["model"] = "../../etc/passwd";
  ExpectOpenAiError(c.Post("/v1/chat/completions", other.dump(), "application/json"), 404);
  ExpectOpenAiError(c.Post("/v1/chat/completions", std::string(70000, ' '), "application/json"), 413);
  ExpectOpenAiError(c.Get("/v1/nowhere"), 404);
  json long_prompt = {{"model", ModelName()}, {"prompt", std::string(30000, 'a')}};
  ExpectOpenAiError(c.Post("/v1/completions", long_prompt.dump(), "application/json"), 400);
  // The server is still healthy.
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST_F(ServeE2eTest, MetricsArePrometheusText) {
  ASSERT_TRUE(server_->Client().Post("/v1/chat/completions", Chat().dump(), "application/json"));
  auto m = server_->Client().Get("/metrics");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("# TYPE flotilla_requests_total counter"), std::string::npos);
  EXPECT_NE(m->body.find("flotilla_requests_total{endpoint=\"chat.completions\",model=\"" + ModelName() +
                         "\",status=\"200\"}"),
            std::string::npos);
  EXPECT_NE(m->body.find("flotilla_request_duration_seconds_bucket{endpoint=\"chat.completions\",le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_NE(m->body.find("flotilla_completion_tokens_total{model="), std::string::npos);
}

// True once the request log holds a cancelled (499) completions row; polls for up to `seconds`.
bool LogHasCancelledRow(const fs::path& db, double seconds) {
  for (int i = 0; i < seconds * 20; ++i) {
    auto log = RequestLog::Open(db.string());  // a second reader of the WAL database
    if (!log.ok()) return false;
    bool found = false;
    (void)(*log)->ForEach([&](const RequestRecord& rec) {
      found |= rec.http_status == 499 && rec.endpoint == "completions";
      return Status::Ok();
    });
    if (found) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST_F(ServeE2eTest, DisconnectCancelsAStream) {
  json req = {{"model", ModelName()}, {"prompt", "the"}, {"max_tokens", 2000}, {"stream", true}};
  auto c = server_->Client();
  // The random model may end its text (EOS) before the server notices the hang-up; try a few times.
  bool cancelled = false;
  for (int attempt = 0; attempt < 8 && !cancelled; ++attempt) {
    int chunks = 0;
    httplib::Request r;
    r.method = "POST";
    r.path = "/v1/completions";
    r.body = req.dump();
    r.set_header("Content-Type", "application/json");
    r.set_header("Authorization", std::string("Bearer ") + kKey);
    r.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 2; };
    c.send(r);  // ends with an error: the receiver hung up
    EXPECT_GE(chunks, 1);
    cancelled = LogHasCancelledRow(server_->db(), 2.0);
  }
  EXPECT_TRUE(cancelled) << "no cancelled (499) row in the request log";
  // The server keeps answering.
  auto ok = c.Post("/v1/chat/completions", Chat().dump(), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

// A separate server with no wait queue: concurrent requests beyond the running one get 429.
TEST(ServeQueueTest, FullQueueAnswers429) {
  ServerProcess server(fs::temp_directory_path() / ("flotilla_serve_q_" + std::to_string(getpid())),
                       std::string("--api-key ") + kKey + " --queue 0 --max-tokens 2000 -c 2048");
  ASSERT_NE(server.port(), 0) << server.stderr_text();
  json req = {{"model", ModelName()}, {"prompt", "the"}, {"max_tokens", 1500}};
  std::atomic<int> ok{0}, busy{0}, other{0};
  for (int round = 0; round < 5 && busy == 0; ++round) {
    std::vector<std::thread> clients;
    for (int i = 0; i < 6; ++i) {
      clients.emplace_back([&] {
        auto r = server.Client().Post("/v1/completions", req.dump(), "application/json");
        if (r && r->status == 200) {
          ++ok;
        } else if (r && r->status == 429) {
          ++busy;
          EXPECT_EQ(json::parse(r->body)["error"]["code"], "queue_full");
        } else {
          ++other;
        }
      });
    }
    for (auto& t : clients) t.join();
  }
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(busy.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(server.Stop(), 0) << server.stderr_text();
}

// Runs last in this file's order (ctest runs it alone): stops the shared server and checks its log.
TEST_F(ServeE2eTest, ZzLogHoldsEveryRequestAfterShutdown) {
  ASSERT_TRUE(server_->Client().Post("/v1/chat/completions", Chat().dump(), "application/json"));
  ASSERT_TRUE(server_->Client().Post("/v1/chat/completions", "{", "application/json"));
  EXPECT_EQ(server_->Stop(), 0) << server_->stderr_text();
  auto log = RequestLog::Open(server_->db().string());
  ASSERT_TRUE(log.ok());
  int ok = 0, errors = 0;
  ASSERT_TRUE((*log)->ForEach([&](const RequestRecord& r) {
                      (r.http_status == 200 ? ok : errors)++;
                      return Status::Ok();
                    }).ok());
  EXPECT_GE(ok, 1);
  EXPECT_GE(errors, 1);
  auto n = ExportTrainingJsonl(**log, [](std::string_view line) { EXPECT_TRUE(json::accept(line)) << line; });
  ASSERT_TRUE(n.ok());
  EXPECT_GE(*n, 1);
}

}  // namespace
}  // namespace flotilla
