// End to end: POST /v1/embeddings on `flotilla serve` with a generated model. The HTTP answer equals
// the mean-pooled, L2-normalised final hidden states computed directly with the model layer; token
// ids, strings and base64 agree; bad requests get OpenAI errors; requests are in the log.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "model/context.h"
#include "model/test_model.h"
#include "store/request_log.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class EmbeddingsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("flotilla_embed_e2e_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    const fs::path err = *dir_ / "serve.stderr";
    const std::string cmd = std::string("exec ") + FLOTILLA_BIN + " serve -m " + testutil::TinyModelPath() +
                            " --port 0 -t 1 --parallel 2 -c 256 --db " + (*dir_ / "log.sqlite").string() + " 2>" +
                            err.string();
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const std::string text = testutil::ReadWholeFile(err);
      const std::string marker = "on http://127.0.0.1:";
      if (size_t at = text.find(marker); at != std::string::npos) port_ = std::stoi(text.substr(at + marker.size()));
    }
  }
  static void TearDownTestSuite() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override { ASSERT_NE(port_, 0) << testutil::ReadWholeFile(*dir_ / "serve.stderr"); }

  static httplib::Result Post(const std::string& body) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c.Post("/v1/embeddings", body, "application/json");
  }
  static json Embed(const json& request) {
    auto r = Post(request.dump());
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body, nullptr, false);
  }
  static std::string ModelName() { return fs::path(testutil::TinyModelPath()).stem().string(); }

  static fs::path* dir_;
  static pid_t pid_;
  static int port_;
};
fs::path* EmbeddingsE2eTest::dir_ = nullptr;
pid_t EmbeddingsE2eTest::pid_ = -1;
int EmbeddingsE2eTest::port_ = 0;

// Decodes standard base64 (the float32 bytes the server sends for encoding_format "base64").
std::vector<float> FloatsFromBase64(const std::string& s) {
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : s) {
    const char* at = std::strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", ch);
    if (ch == '=' || !at) break;
    acc = (acc << 6) | static_cast<uint32_t>(at - "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

TEST_F(EmbeddingsE2eTest, EqualsPooledHiddenStatesComputedDirectly) {
  const std::string text = "the small boat carried bread";
  json j = Embed({{"model", ModelName()}, {"input", text}, {"encoding_format", "float"}});
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], ModelName());
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["object"], "embedding");
  EXPECT_EQ(j["data"][0]["index"], 0);
  const std::vector<float> got = j["data"][0]["embedding"].get<std::vector<float>>();

  StatusOr<std::unique_ptr<Model>> model = Model::Load(testutil::TinyModelPath());
  ASSERT_TRUE(model.ok());
  const std::vector<int32_t> ids = (*model)->tokenizer().Encode(text, true, true);
  EXPECT_EQ(j["usage"]["prompt_tokens"], ids.size());
  ThreadPool pool(1);
  auto ctx = Context::Create(**model, pool, {.n_ctx = 64});
  ASSERT_TRUE(ctx.ok());
  StatusOr<std::span<const float>> h = (*ctx)->EvalHidden(ids);
  ASSERT_TRUE(h.ok());
  const int32_t d = (*model)->config().n_embd;
  std::vector<double> mean(static_cast<size_t>(d));
  double norm = 0;
  for (int32_t k = 0; k < d; ++k) {
    for (size_t r = 0; r < ids.size(); ++r) mean[k] += (*h)[r * d + k];
    mean[k] /= static_cast<double>(ids.size());
    norm += mean[k] * mean[k];
  }
  ASSERT_EQ(got.size(), static_cast<size_t>(d));
  for (int32_t k = 0; k < d; ++k) EXPECT_NEAR(got[k], mean[k] / std::sqrt(norm), 1e-5) << k;

  // The same text as token ids, and as base64, in a batch of inputs.
  json ids_json = ids;
  json b = Embed({{"model", ModelName()}, {"input", json::array({ids_json, json::array({1, 2, 3})})}});
  ASSERT_EQ(b["data"].size(), 2u);
  EXPECT_EQ(b["data"][1]["index"], 1);
  const std::vector<float> from_ids = b["data"][0]["embedding"].get<std::vector<float>>();
  json c = Embed({{"model", ModelName()}, {"input", json::array({"the sea", text})}, {"encoding_format", "base64"}});
  ASSERT_EQ(c["data"].size(), 2u);
  const std::vector<float> from_b64 = FloatsFromBase64(c["data"][1]["embedding"].get<std::string>());
  ASSERT_EQ(from_ids.size(), got.size());
  ASSERT_EQ(from_b64.size(), got.size());
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_FLOAT_EQ(from_ids[k], got[k]);
    EXPECT_FLOAT_EQ(from_b64[k], got[k]);
  }
}

TEST_F(EmbeddingsE2eTest, BadRequestsGetOpenAiErrors) {
  const std::string m = ModelName();
  const std::vector<std::pair<std::string, int>> cases = {
      {"{", 400},
      {R"({"input": "x"})", 400},
      {R"({"model": ")" + m + R"("})", 400},
      {R"({"model": ")" + m + R"(", "input": []})", 400},
      {R"({"model": ")" + m + R"(", "input": ""})", 400},
      {R"({"model": ")" + m + R"(", "input": [1, -2]})", 400},
      {R"({"model": ")" + m + R"(", "input": [[1, 99999]]})", 400},
      {R"({"model": ")" + m + R"(", "input": ["a", 3]})", 400},
      {R"({"model": ")" + m + R"(", "input": "x", "encoding_format": "int8"})", 400},
      {R"({"model": ")" + m + R"(", "input": "x", "dimensions": 8})", 400},
      {R"({"model": ")" + m + R"(", "input": ")" + std::string(2000, 'a') + R"("})", 400},
      {R"({"model": "no-such-model", "input": "x"})", 404},
  };
  for (const auto& [body, status] : cases) {
    auto r = Post(body);
    ASSERT_TRUE(r) << body;
    EXPECT_EQ(r->status, status) << body << " -> " << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
    EXPECT_TRUE(j["error"]["message"].is_string());
  }
}

// Embedding requests, good and bad, are in the request log (written before the response is sent).
TEST_F(EmbeddingsE2eTest, RequestsAreLogged) {
  Embed({{"model", ModelName()}, {"input", "logged [e2e-ok]"}});
  ASSERT_TRUE(Post(R"({"model": "no-such-model", "input": "[e2e-bad]"})"));
  auto log = RequestLog::Open((*dir_ / "log.sqlite").string());
  ASSERT_TRUE(log.ok());
  bool ok = false, bad = false;
  ASSERT_TRUE((*log)->ForEach([&](const RequestRecord& r) {
                      EXPECT_EQ(r.endpoint, "embeddings");
                      if (r.request_json.find("[e2e-ok]") != std::string::npos) {
                        ok = r.http_status == 200 && r.response_json.find("\"embedding\"") != std::string::npos &&
                             r.prompt_tokens > 0;
                      }
                      if (r.request_json.find("[e2e-bad]") != std::string::npos) bad = r.http_status == 404;
                      return Status::Ok();
                    }).ok());
  EXPECT_TRUE(ok);
  EXPECT_TRUE(bad);
}

}  // namespace
}  // namespace flotilla
