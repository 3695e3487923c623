#include "route/upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace flotilla::route {
namespace {

using json = nlohmann::json;

// A cpp-httplib server on 127.0.0.1 (any port) whose /v1/chat/completions runs `handler`.
class FakeUpstream {
 public:
  explicit FakeUpstream(httplib::Server::Handler handler) {
    server_.Post("/v1/chat/completions", std::move(handler));
    port_ = server_.bind_to_any_port("127.0.0.1");
    EXPECT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeUpstream() {
    server_.stop();
    thread_.join();
  }
  std::string BaseUrl() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

UpstreamConfig Config(const std::string& base_url, double timeout = 5) {
  UpstreamConfig c;
  c.base_url = base_url;
  c.model = "big-model";
  c.api_key = "sk-test";
  c.timeout_seconds = timeout;
  return c;
}

const std::vector<ChatMessage> kMessages = {{"system", "be brief"}, {"user", "hello"}};

TEST(UpstreamTest, OkReplySendsModelParamsAndKey) {
  json seen;
  std::string auth;
  FakeUpstream up([&](const httplib::Request& req, httplib::Response& res) {
    seen = json::parse(req.body);
    auth = req.get_header_value("Authorization");
    res.set_content(R"({"id":"x","object":"chat.completion","choices":[{"index":0,
      "message":{"role":"assistant","content":"hi there"},"finish_reason":"stop"}],
      "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}})",
                    "application/json");
  });
  UpstreamClient client(Config(up.BaseUrl() + "/"));  // a trailing slash is tolerated
  ChatParams params;
  params.max_tokens = 7;
  params.temperature = 0.5f;
  params.stop = {"\n"};
  StatusOr<ChatReply> reply = client.Chat(kMessages, params);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->text, "hi there");
  EXPECT_EQ(reply->finish_reason, "stop");
  EXPECT_EQ(reply->prompt_tokens, 12);
  EXPECT_EQ(reply->completion_tokens, 3);
  EXPECT_EQ(auth, "Bearer sk-test");
  EXPECT_EQ(seen["model"], "big-model");
  EXPECT_EQ(seen["messages"].size(), 2u);
  EXPECT_EQ(seen["messages"][1]["content"], "hello");
  EXPECT_EQ(seen["max_tokens"], 7);
  EXPECT_FLOAT_EQ(seen["temperature"].get<float>(), 0.5f);
  EXPECT_EQ(seen["stop"][0], "\n");
  EXPECT_FALSE(seen.contains("top_p"));  // negative: not sent
  EXPECT_FALSE(seen.contains("seed"));
}

TEST(UpstreamTest, NoKeyNoAuthorizationHeader) {
  bool had_auth = true;
  FakeUpstream up([&](const httplib::Request& req, httplib::Response& res) {
    had_auth = req.has_header("Authorization");
    res.set_content(R"({"choices":[{"message":{"role":"assistant","content":"ok"}}]})", "application/json");
  });
  UpstreamConfig c = Config(up.BaseUrl());
  c.api_key.clear();
  ASSERT_TRUE(UpstreamClient(c).Chat(kMessages, {}).ok());
  EXPECT_FALSE(had_auth);
}

TEST(UpstreamTest, ServerErrorNamesStatusAndMessage) {
  FakeUpstream up([](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content(R"({"error":{"message":"model exploded","type":"server_error"}})", "application/json");
  });
  StatusOr<ChatReply> reply = UpstreamClient(Config(up.BaseUrl())).Chat(kMessages, {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("HTTP 500"), std::string::npos) << reply.status().message();
  EXPECT_NE(reply.status().message().find("model exploded"), std::string::npos);
}

TEST(UpstreamTest, ClientErrorsMapToCodes) {
  int status = 401;
  FakeUpstream up([&](const httplib::Request&, httplib::Response& res) {
    res.status = status;
    res.set_content("plain text failure", "text/plain");
  });
  UpstreamClient client(Config(up.BaseUrl()));
  StatusOr<ChatReply> reply = client.Chat(kMessages, {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(reply.status().message().find("plain text failure"), std::string::npos);
  status = 400;
  EXPECT_EQ(client.Chat(kMessages, {}).status().code(), StatusCode::kInvalidArgument);
  status = 429;
  EXPECT_EQ(client.Chat(kMessages, {}).status().code(), StatusCode::kUnavailable);
}

TEST(UpstreamTest, MalformedReplyIsDataLoss) {
  std::string body = "{not json";
  FakeUpstream up([&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/json");
  });
  UpstreamClient client(Config(up.BaseUrl()));
  StatusOr<ChatReply> reply = client.Chat(kMessages, {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kDataLoss);
  for (const char* bad : {R"({"choices":[]})", R"({"choices":[{"message":{"content":5}}]})", R"([1,2])",
                          R"({"choices":[{"text":"completion style"}]})"}) {
    body = bad;
    EXPECT_EQ(client.Chat(kMessages, {}).status().code(), StatusCode::kDataLoss) << bad;
  }
}

TEST(UpstreamTest, RefusedPortIsUnavailable) {
  // A port that was just free: bind, read it back, close.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1";
  StatusOr<ChatReply> reply = UpstreamClient(Config(url)).Chat(kMessages, {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("127.0.0.1"), std::string::npos);
}

TEST(UpstreamTest, SlowServerTimesOut) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  FakeUpstream up([&](const httplib::Request&, httplib::Response& res) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return release; });
    res.set_content(R"({"choices":[{"message":{"content":"late"}}]})", "application/json");
  });
  auto start = std::chrono::steady_clock::now();
  StatusOr<ChatReply> reply = UpstreamClient(Config(up.BaseUrl(), 0.3)).Chat(kMessages, {});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("timed out"), std::string::npos) << reply.status().message();
  EXPECT_LT(seconds, 3.0);
}

TEST(UpstreamTest, RequestBodyOmitsUnsetParams) {
  json j = json::parse(BuildChatRequestBody("m", kMessages, {}));
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["stream"], false);
  EXPECT_FALSE(j.contains("max_tokens"));
  EXPECT_FALSE(j.contains("temperature"));
  EXPECT_FALSE(j.contains("stop"));
  ChatParams p;
  p.seed = 0;
  p.top_p = 0;
  j = json::parse(BuildChatRequestBody("m", kMessages, p));
  EXPECT_EQ(j["seed"], 0);
  EXPECT_EQ(j["top_p"], 0);
}

}  // namespace
}  // namespace flotilla::route
