// Download against real HTTP servers on loopback: cpp-httplib for well-behaved ones, and
// LoopbackHttpServer (raw bytes) for servers that ignore Range, stall or drop the connection.
#include "base/download.h"

#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "base/download_test_server.h"
#include "base/sha256.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using testutil::LoopbackHttpServer;

std::string RandomBlob(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void WriteAll(const fs::path& p, std::string_view bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A cpp-httplib server on 127.0.0.1 (port chosen by the OS) running on its own thread.
class HttplibServer {
 public:
  HttplibServer() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~HttplibServer() {
    server_.stop();
    thread_.join();
  }
  httplib::Server& server() { return server_; }
  std::string Url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("flotilla_download_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    blob_ = RandomBlob(300 * 1024 + 17, 42);
    server_.server().Get("/model.gguf", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ranges_.push_back(req.get_header_value("Range"));
      }
      res.set_content(blob_, "application/octet-stream");  // httplib answers Range requests itself
    });
  }
  void TearDown() override { fs::remove_all(dir_); }

  DownloadRequest Request(const std::string& url) {
    DownloadRequest r;
    r.url = url;
    r.output_path = Out();
    return r;
  }
  std::string Out() const { return (dir_ / "out.gguf").string(); }
  std::string Part() const { return Out() + ".part"; }
  std::vector<std::string> Ranges() {
    std::lock_guard<std::mutex> lock(mu_);
    return ranges_;
  }

  fs::path dir_;
  std::string blob_;
  HttplibServer server_;
  std::mutex mu_;
  std::vector<std::string> ranges_;  // the Range header of each /model.gguf request ("" when none)
};

TEST_F(DownloadTest, DownloadsWholeFileAndReportsProgress) {
  DownloadRequest req = Request(server_.Url("/model.gguf"));
  uint64_t last_done = 0, last_total = 0;
  int calls = 0;
  req.on_progress = [&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last_done);
    last_done = done;
    last_total = total;
    ++calls;
  };
  StatusOr<DownloadResult> r = Download(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(Out()), blob_);
  EXPECT_FALSE(fs::exists(Part()));
  EXPECT_FALSE(r->skipped);
  EXPECT_EQ(r->resumed_from, 0u);
  EXPECT_EQ(r->bytes, blob_.size());
  EXPECT_EQ(r->sha256, Sha256Hex(blob_));
  EXPECT_GE(calls, 2);
  EXPECT_EQ(last_done, blob_.size());
  EXPECT_EQ(last_total, blob_.size());
  EXPECT_EQ(Ranges(), std::vector<std::string>{""});
}

TEST_F(DownloadTest, ResumesFromPartWithRangeRequest) {
  const size_t kHave = 100000;
  WriteAll(Part(), std::string_view(blob_).substr(0, kHave));
  DownloadRequest req = Request(server_.Url("/model.gguf"));
  uint64_t first_done = UINT64_MAX;
  req.on_progress = [&](uint64_t done, uint64_t) { first_done = std::min(first_done, done); };
  req.sha256 = Sha256Hex(blob_);  // the hash covers the kept prefix too
  StatusOr<DownloadResult> r = Download(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Ranges(), std::vector<std::string>{"bytes=100000-"});
  EXPECT_EQ(r->resumed_from, kHave);
  EXPECT_EQ(first_done, kHave);
  EXPECT_EQ(ReadAll(Out()), blob_);
  EXPECT_FALSE(fs::exists(Part()));
}

TEST_F(DownloadTest, CompletePartIsAcceptedOn416) {
  WriteAll(Part(), blob_);
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/model.gguf")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(Out()), blob_);
  EXPECT_EQ(r->sha256, Sha256Hex(blob_));
}

TEST_F(DownloadTest, PartLongerThanFileStartsOver) {
  WriteAll(Part(), blob_ + "junk");
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/model.gguf")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(Out()), blob_);
  EXPECT_EQ(r->resumed_from, 0u);
  std::vector<std::string> ranges = Ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[1], "");
}

TEST_F(DownloadTest, NotFoundIsAClearErrorAndLeavesNoFile) {
  std::string url = server_.Url("/missing.gguf");
  StatusOr<DownloadResult> r = Download(Request(url));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("HTTP 404"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(url), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(Out()));
  EXPECT_FALSE(fs::exists(Part()));
}

TEST_F(DownloadTest, ServerErrorOnResumeKeepsThePart) {
  server_.server().Get("/broken.gguf", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content("busy", "text/plain");
  });
  WriteAll(Part(), "abc");
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/broken.gguf")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("HTTP 503"), std::string::npos) << r.status().message();
  EXPECT_EQ(ReadAll(Part()), "abc");
  EXPECT_FALSE(fs::exists(Out()));
}

TEST_F(DownloadTest, Sha256MatchIsCaseInsensitive) {
  DownloadRequest req = Request(server_.Url("/model.gguf"));
  req.sha256 = Sha256Hex(blob_);
  for (char& c : req.sha256) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  StatusOr<DownloadResult> r = Download(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(Out()), blob_);
}

TEST_F(DownloadTest, Sha256MismatchDeletesEverything) {
  DownloadRequest req = Request(server_.Url("/model.gguf"));
  req.sha256 = std::string(64, 'a');
  StatusOr<DownloadResult> r = Download(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find(std::string(64, 'a')), std::string::npos);
  EXPECT_NE(r.status().message().find(Sha256Hex(blob_)), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(Out()));
  EXPECT_FALSE(fs::exists(Part()));
}

TEST_F(DownloadTest, MalformedSha256IsRejectedBeforeAnyRequest) {
  DownloadRequest req = Request(server_.Url("/model.gguf"));
  req.sha256 = "abc";
  StatusOr<DownloadResult> r = Download(req);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Ranges().empty());
}

TEST_F(DownloadTest, FollowsRedirects) {
  server_.server().Get("/r1", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/r2"); });
  server_.server().Get("/r2", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/model.gguf", 301);
  });
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/r1")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(Out()), blob_);
}

TEST_F(DownloadTest, ResumeSurvivesRedirect) {
  server_.server().Get("/r1", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/model.gguf"); });
  WriteAll(Part(), std::string_view(blob_).substr(0, 5000));
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/r1")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->resumed_from, 5000u);
  EXPECT_EQ(ReadAll(Out()), blob_);
}

TEST_F(DownloadTest, RedirectLoopFails) {
  server_.server().Get("/loop", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/loop"); });
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/loop")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(fs::exists(Out()));
}

TEST_F(DownloadTest, ConnectionRefusedIsUnavailable) {
  int port = 0;
  {
    LoopbackHttpServer closed([](const auto&, auto&) {});
    port = closed.port();
  }  // the port is closed again
  StatusOr<DownloadResult> r = Download(Request("http://127.0.0.1:" + std::to_string(port) + "/x.gguf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("cannot connect"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(Out()));
  EXPECT_FALSE(fs::exists(Part()));
}

TEST_F(DownloadTest, UnsupportedSchemeIsInvalidArgument) {
  StatusOr<DownloadResult> r = Download(Request("file:///etc/passwd"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_FALSE(fs::exists(Out()));
}

TEST_F(DownloadTest, ExistingFileIsKeptUnlessForced) {
  WriteAll(Out(), "old");
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/model.gguf")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->skipped);
  EXPECT_EQ(ReadAll(Out()), "old");

  DownloadRequest req = Request(server_.Url("/model.gguf"));
  req.sha256 = Sha256Hex("old");
  r = Download(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->skipped);
  EXPECT_EQ(r->sha256, Sha256Hex("old"));

  req.sha256 = Sha256Hex(blob_);
  r = Download(req);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadAll(Out()), "old");
  EXPECT_TRUE(Ranges().empty());

  req.force = true;
  r = Download(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->skipped);
  EXPECT_EQ(ReadAll(Out()), blob_);
}

TEST_F(DownloadTest, ChunkedBodyWithoutLength) {
  server_.server().Get("/chunked.gguf", [this](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream", [this](size_t offset, httplib::DataSink& sink) {
      if (offset >= blob_.size()) {
        sink.done();
        return true;
      }
      size_t n = std::min<size_t>(7000, blob_.size() - offset);
      return sink.write(blob_.data() + offset, n);
    });
  });
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/chunked.gguf")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(Out()), blob_);
}

TEST_F(DownloadTest, EmptyFile) {
  server_.server().Get("/empty", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("", "application/octet-stream");
  });
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/empty")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(fs::exists(Out()));
  EXPECT_EQ(fs::file_size(Out()), 0u);
  EXPECT_EQ(r->sha256, Sha256Hex(""));
}

TEST_F(DownloadTest, PartialBodyLabelled200IsReadByItsContentRange) {
  // cpp-httplib applies the Range even when a handler sets status 200: a 200 with a partial body.
  server_.server().Get("/odd.gguf", [this](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(blob_, "application/octet-stream");
  });
  WriteAll(Part(), std::string_view(blob_).substr(0, 1234));
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/odd.gguf")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(Out()), blob_);
}

TEST_F(DownloadTest, BearerTokenIsSent) {
  server_.server().Get("/private.gguf", [](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != "Bearer secret") {
      res.status = 401;
      return;
    }
    res.set_content("ok", "application/octet-stream");
  });
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/private.gguf")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("HF_TOKEN"), std::string::npos) << r.status().message();
  DownloadRequest req = Request(server_.Url("/private.gguf"));
  req.bearer_token = "secret";
  r = Download(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(Out()), "ok");
}

TEST_F(DownloadTest, HuggingFaceUrlThroughHfEndpoint) {
  std::string seen;
  server_.server().Get(R"(/org/repo/resolve/([^/]+)/(.*))", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req.path;
    res.set_content(blob_, "application/octet-stream");
  });
  ::setenv("HF_ENDPOINT", server_.Url("/").c_str(), 1);
  StatusOr<ModelUrl> url = ResolveModelUrl("hf://org/repo/sub/model-Q8_0.gguf");
  ::unsetenv("HF_ENDPOINT");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_TRUE(url->hugging_face);
  EXPECT_EQ(url->file_name, "model-Q8_0.gguf");
  StatusOr<DownloadResult> r = Download(Request(url->url));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(seen, "/org/repo/resolve/main/sub/model-Q8_0.gguf");
  EXPECT_EQ(ReadAll(Out()), blob_);
}

// --- servers that misbehave -------------------------------------------------------------------

TEST_F(DownloadTest, ServerIgnoringRangeRestartsFromZero) {
  LoopbackHttpServer raw([this](const LoopbackHttpServer::Request&, LoopbackHttpServer::Conn& conn) {
    conn.Write(LoopbackHttpServer::Response(200, "OK", blob_));
  });
  WriteAll(Part(), "stale bytes that are not the file");
  StatusOr<DownloadResult> r = Download(Request(raw.Url("/model.gguf")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(raw.requests().size(), 1u);
  EXPECT_EQ(raw.requests()[0].Header("range"), "bytes=33-");
  EXPECT_EQ(r->resumed_from, 0u);
  EXPECT_EQ(ReadAll(Out()), blob_);
}

TEST_F(DownloadTest, WrongContentRangeRestartsWithoutRange) {
  LoopbackHttpServer raw([this](const LoopbackHttpServer::Request& req, LoopbackHttpServer::Conn& conn) {
    if (req.Header("range").empty()) {
      conn.Write(LoopbackHttpServer::Response(200, "OK", blob_));
    } else {  // claims to start at 0 whatever was asked
      conn.Write(LoopbackHttpServer::Response(
          206, "Partial Content", blob_,
          "Content-Range: bytes 0-" + std::to_string(blob_.size() - 1) + "/" + std::to_string(blob_.size()) + "\r\n"));
    }
  });
  WriteAll(Part(), std::string_view(blob_).substr(0, 10));
  StatusOr<DownloadResult> r = Download(Request(raw.Url("/model.gguf")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(raw.requests().size(), 2u);
  EXPECT_EQ(ReadAll(Out()), blob_);
}

TEST_F(DownloadTest, StalledServerTimesOutKeepsPartAndResumes) {
  // libcurl averages the speed over the last few seconds, so the stall must follow a small burst to be
  // seen within the 1 s limit.
  const size_t half = 20000;
  LoopbackHttpServer stalling([&](const LoopbackHttpServer::Request&, LoopbackHttpServer::Conn& conn) {
    conn.Write(LoopbackHttpServer::Response(200, "OK", std::string_view(blob_).substr(0, half), {},
                                            static_cast<int64_t>(blob_.size())));
    conn.Stall(std::chrono::seconds(5));
  });
  DownloadRequest req = Request(stalling.Url("/model.gguf"));
  req.low_speed_bytes_per_s = 100000;
  req.low_speed_time_s = 1;
  auto start = std::chrono::steady_clock::now();
  StatusOr<DownloadResult> r = Download(req);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_NE(r.status().message().find("stalled"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(Out()));
  ASSERT_EQ(ReadAll(Part()), blob_.substr(0, half));

  LoopbackHttpServer good([&](const LoopbackHttpServer::Request& rq, LoopbackHttpServer::Conn& conn) {
    LoopbackHttpServer::ServeWithRange(rq, conn, blob_);
  });
  req.url = good.Url("/model.gguf");
  req.sha256 = Sha256Hex(blob_);
  r = Download(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(good.requests().at(0).Header("range"), "bytes=" + std::to_string(half) + "-");
  EXPECT_EQ(ReadAll(Out()), blob_);
}

TEST_F(DownloadTest, DroppedConnectionKeepsPart) {
  const size_t half = blob_.size() / 2;
  LoopbackHttpServer dropping([&](const LoopbackHttpServer::Request&, LoopbackHttpServer::Conn& conn) {
    conn.Write(LoopbackHttpServer::Response(200, "OK", std::string_view(blob_).substr(0, half), {},
                                            static_cast<int64_t>(blob_.size())));
  });  // the server closes the connection after half the promised body
  StatusOr<DownloadResult> r = Download(Request(dropping.Url("/model.gguf")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find(Part()), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(Out()));
  EXPECT_EQ(ReadAll(Part()), blob_.substr(0, half));
}

TEST_F(DownloadTest, CancelKeepsPart) {
  LoopbackHttpServer slow([&](const LoopbackHttpServer::Request&, LoopbackHttpServer::Conn& conn) {
    conn.Write(LoopbackHttpServer::Response(200, "OK", std::string_view(blob_).substr(0, 5000), {},
                                            static_cast<int64_t>(blob_.size())));
    conn.Stall(std::chrono::seconds(5));
  });
  std::atomic<bool> cancel{false};
  DownloadRequest req = Request(slow.Url("/model.gguf"));
  req.cancel = &cancel;
  req.on_progress = [&](uint64_t done, uint64_t) {
    if (done > 0) cancel = true;  // as a SIGINT handler would
  };
  StatusOr<DownloadResult> r = Download(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << r.status().ToString();
  EXPECT_FALSE(fs::exists(Out()));
  EXPECT_TRUE(fs::exists(Part()));
  EXPECT_GT(fs::file_size(Part()), 0u);
}

TEST_F(DownloadTest, ConcurrentDownloadOfSamePartIsRefused) {
  const size_t half = blob_.size() / 2;
  std::atomic<bool> started{false};
  LoopbackHttpServer slow([&](const LoopbackHttpServer::Request&, LoopbackHttpServer::Conn& conn) {
    conn.Write(LoopbackHttpServer::Response(200, "OK", std::string_view(blob_).substr(0, half), {},
                                            static_cast<int64_t>(blob_.size())));
    started = true;
    conn.Stall(std::chrono::seconds(5));
  });
  std::atomic<bool> cancel{false};
  DownloadRequest first = Request(slow.Url("/model.gguf"));
  first.cancel = &cancel;
  std::thread t([&] { (void)Download(first); });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  StatusOr<DownloadResult> r = Download(Request(server_.Url("/model.gguf")));
  cancel = true;
  t.join();
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
}

// --- URL resolution ----------------------------------------------------------------------------

TEST(ResolveModelUrlTest, HttpUrlsPassThrough) {
  StatusOr<ModelUrl> u = ResolveModelUrl("https://example.com/a/b/tiny%20model.gguf?download=true");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->url, "https://example.com/a/b/tiny%20model.gguf?download=true");
  EXPECT_EQ(u->file_name, "tiny model.gguf");
  EXPECT_FALSE(u->hugging_face);
  EXPECT_EQ(ResolveModelUrl("http://example.com/")->file_name, "");
  EXPECT_EQ(ResolveModelUrl("http://example.com")->file_name, "");
  EXPECT_EQ(ResolveModelUrl("http://example.com/a/..")->file_name, "");
}

TEST(ResolveModelUrlTest, HuggingFaceForms) {
  const std::string hub = "https://huggingface.co";
  EXPECT_EQ(ResolveModelUrl("hf://org/repo/model.gguf", hub)->url,
            "https://huggingface.co/org/repo/resolve/main/model.gguf");
  EXPECT_EQ(ResolveModelUrl("hf://org/repo@v1.0/dir/model.gguf", hub)->url,
            "https://huggingface.co/org/repo/resolve/v1.0/dir/model.gguf");
  EXPECT_EQ(ResolveModelUrl("hf://org/repo/model.gguf@abc123", hub)->url,
            "https://huggingface.co/org/repo/resolve/abc123/model.gguf");
  EXPECT_EQ(ResolveModelUrl("hf://org/repo/model.gguf@abc123", hub)->file_name, "model.gguf");
  EXPECT_EQ(ResolveModelUrl("hf://org/repo@refs/pr/1/model.gguf", hub).ok(), true);
  EXPECT_EQ(ResolveModelUrl("hf://org/repo/m.gguf", "http://127.0.0.1:8080/")->url,
            "http://127.0.0.1:8080/org/repo/resolve/main/m.gguf");
}

TEST(ResolveModelUrlTest, HfEndpointFromEnvironment) {
  ::setenv("HF_ENDPOINT", "http://127.0.0.1:9/mirror/", 1);
  StatusOr<ModelUrl> u = ResolveModelUrl("hf://org/repo/m.gguf");
  ::unsetenv("HF_ENDPOINT");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->url, "http://127.0.0.1:9/mirror/org/repo/resolve/main/m.gguf");
  EXPECT_EQ(ResolveModelUrl("hf://org/repo/m.gguf")->url, "https://huggingface.co/org/repo/resolve/main/m.gguf");
}

TEST(ResolveModelUrlTest, RejectsMalformedSpecs) {
  for (const char* bad : {"org/repo/file.gguf", "ftp://x/y", "hf://org/repo", "hf://org//file", "hf://org/repo/",
                          "hf://org/repo/../x", "hf://org/repo@/x.gguf", ""}) {
    EXPECT_EQ(ResolveModelUrl(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace flotilla
