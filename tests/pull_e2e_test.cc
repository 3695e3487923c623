// `flotilla pull` end to end: the real binary against HTTP servers on loopback (the hub is reached
// through HF_ENDPOINT). Servers come from base/download_test_server.h.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "base/download_test_server.h"
#include "base/sha256.h"

namespace {

namespace fs = std::filesystem;
using flotilla::testutil::LoopbackHttpServer;

struct Result {
  int exit_code;
  std::string out;
  std::string err;
};

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class PullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flotilla_pull_e2e_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "work");
    std::mt19937 rng(7);
    blob_.resize(200 * 1024 + 3);
    for (char& c : blob_) c = static_cast<char>(rng());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `env... flotilla args` in dir_/work; `env` is a prefix such as "HF_ENDPOINT=x ".
  Result Run(const std::string& args, const std::string& env = "") {
    fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    std::string cmd = "cd " + (dir_ / "work").string() + " && env -u HF_TOKEN -u HF_ENDPOINT " + env + " " +
                      FLOTILLA_BIN + " " + args + " >" + out.string() + " 2>" + err.string();
    int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadAll(out), ReadAll(err)};
  }

  // A server with the blob at every path under /org/repo/resolve/ and at /model.gguf; 404 elsewhere.
  LoopbackHttpServer::Handler Files() {
    return [this](const LoopbackHttpServer::Request& req, LoopbackHttpServer::Conn& conn) {
      if (req.path == "/model.gguf" || req.path.rfind("/org/repo/resolve/", 0) == 0) {
        LoopbackHttpServer::ServeWithRange(req, conn, blob_);
      } else {
        conn.Write(LoopbackHttpServer::Response(404, "Not Found", "no such file"));
      }
    };
  }

  fs::path Work() const { return dir_ / "work"; }

  fs::path dir_;
  std::string blob_;
};

TEST_F(PullTest, DownloadsUrlToOutputWithChecksum) {
  LoopbackHttpServer server(Files());
  std::string out = (dir_ / "m.gguf").string();
  Result r = Run("pull " + server.Url("/model.gguf") + " -o " + out + " --sha256 " + flotilla::Sha256Hex(blob_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadAll(out), blob_);
  EXPECT_FALSE(fs::exists(out + ".part"));
  EXPECT_NE(r.out.find("saved " + out), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(flotilla::Sha256Hex(blob_)), std::string::npos) << r.out;
}

TEST_F(PullTest, HuggingFaceSourceDefaultsToFileNameInCurrentDirectoryAndSkipsWhenPresent) {
  LoopbackHttpServer server(Files());
  std::string env = "HF_ENDPOINT=" + server.Url("") + " HF_TOKEN=tok";
  Result r = Run("pull hf://org/repo/tiny.gguf", env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadAll(Work() / "tiny.gguf"), blob_);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].path, "/org/repo/resolve/main/tiny.gguf");
  EXPECT_EQ(server.requests()[0].Header("authorization"), "Bearer tok");

  r = Run("pull hf://org/repo/tiny.gguf --sha256 " + flotilla::Sha256Hex(blob_), env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("already exists"), std::string::npos) << r.out;
  EXPECT_EQ(server.requests().size(), 1u);  // nothing fetched

  r = Run("pull hf://org/repo@v2/tiny.gguf --force -o " + dir_.string() + "/", env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server.requests().back().path, "/org/repo/resolve/v2/tiny.gguf");
  EXPECT_EQ(ReadAll(dir_ / "tiny.gguf"), blob_);
}

TEST_F(PullTest, ResumesFromPart) {
  LoopbackHttpServer server(Files());
  std::ofstream(Work() / "model.gguf.part", std::ios::binary) << blob_.substr(0, 70000);
  Result r = Run("pull -q " + server.Url("/model.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server.requests().at(0).Header("range"), "bytes=70000-");
  EXPECT_EQ(ReadAll(Work() / "model.gguf"), blob_);
  EXPECT_NE(r.out.find("resumed"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");  // -q: no progress
}

TEST_F(PullTest, NotFoundIsOneLineAndLeavesNoFile) {
  LoopbackHttpServer server(Files());
  Result r = Run("pull " + server.Url("/nope.gguf"));
  EXPECT_EQ(r.exit_code, 1);
  size_t line = r.err.rfind("flotilla: ");
  ASSERT_NE(line, std::string::npos) << r.err;
  std::string msg = r.err.substr(line);
  EXPECT_NE(msg.find("HTTP 404"), std::string::npos) << msg;
  EXPECT_EQ(std::count(msg.begin(), msg.end(), '\n'), 1);
  EXPECT_TRUE(fs::is_empty(Work()));
}

TEST_F(PullTest, ChecksumMismatchLeavesNoFile) {
  LoopbackHttpServer server(Files());
  Result r = Run("pull " + server.Url("/model.gguf") + " --sha256 " + std::string(64, '0'));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sha256 mismatch"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(Work()));
}

TEST_F(PullTest, BadSourceIsAClearError) {
  Result r = Run("pull ftp://example.invalid/x.gguf");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("hf://ORG/REPO/FILE"), std::string::npos) << r.err;
}

TEST_F(PullTest, HelpDescribesSourcesAndDefaults) {
  Result r = Run("pull --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("HF_ENDPOINT"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("current directory"), std::string::npos) << r.out;
}

TEST_F(PullTest, InterruptKeepsPartForResume) {
  LoopbackHttpServer stalling([this](const LoopbackHttpServer::Request&, LoopbackHttpServer::Conn& conn) {
    conn.Write(LoopbackHttpServer::Response(200, "OK", std::string_view(blob_).substr(0, 50000), {},
                                            static_cast<int64_t>(blob_.size())));
    conn.Stall(std::chrono::seconds(5));
  });
  fs::path out = dir_ / "m.gguf";
  const std::string err_path = (dir_ / "stderr").string(), url = stalling.Url("/model.gguf");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec: the parent has threads.
    int null_fd = ::open("/dev/null", O_WRONLY);
    int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(null_fd, 1);
    ::dup2(err_fd, 2);
    ::execl(FLOTILLA_BIN, FLOTILLA_BIN, "pull", url.c_str(), "-o", out.c_str(), nullptr);
    ::_exit(127);
  }
  fs::path part = out.string() + ".part";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (std::chrono::steady_clock::now() < deadline &&
         !(fs::exists(part) && fs::file_size(part) == 50000)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 130) << ReadAll(dir_ / "stderr");
  EXPECT_NE(ReadAll(dir_ / "stderr").find("run the download again to resume"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(ReadAll(part), blob_.substr(0, 50000));
}

}  // namespace
