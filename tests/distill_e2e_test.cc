// flotilla distill end to end. Logit distillation from a generated teacher lowers the student's KL
// to it; sequence-level distillation asks a real `flotilla serve` on loopback, saves exactly what it
// answered, does not ask again, and the student's loss on those answers goes down; bad input
// (another tokenizer, empty or corrupt data and prompts, an unreachable teacher, examples longer
// than the context) fails with one line before any work.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "model/test_model.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testutil::ReadWholeFile;
using testutil::RunCli;

// The first number after `label` in `text`, or NaN.
double NumberAfter(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) return std::nan("");
  return std::stod(text.substr(at + label.size()));
}

class DistillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flotilla_distill_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::mt19937 rng(5);
    const char* subj[] = {"the boat", "a sailor", "the old harbor", "my captain", "the small ship", "her crew"};
    const char* verb[] = {"carried", "watched", "found", "sailed past", "waited for", "remembered"};
    const char* obj[] = {"the lighthouse", "bread and salt", "the morning tide", "a quiet island", "the north wind"};
    std::ofstream out(dir_ / "data.txt");
    for (int i = 0; i < 600; ++i) out << subj[rng() % 6] << " " << verb[rng() % 6] << " " << obj[rng() % 5] << ". ";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(P(name), std::ios::binary) << text;
    return P(name);
  }
  fs::path dir_;
};

TEST_F(DistillTest, LogitDistillationLowersTheStudentsKlToTheTeacher) {
  const std::string teacher = testutil::TinyModelPath();
  const testutil::CliResult r =
      RunCli("distill --teacher " + teacher + " --preset stories260k --n-layer 2 --data " + P("data.txt") +
                 " --steps 80 --batch 4 --ctx 32 --lr 3e-3 --temperature 1 --alpha 1 --eval-every 40 -t 2"
                 " --no-progress --out " + P("student.gguf"),
             dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string after_line = r.out.substr(r.out.find("after:"));
  const double kl_before = NumberAfter(r.out, "KL(teacher||student) "), kl_after = NumberAfter(after_line, "KL(teacher||student) ");
  std::printf("KL to the teacher: %.4f -> %.4f\n", kl_before, kl_after);
  EXPECT_LT(kl_after, 0.85 * kl_before) << r.out;
  EXPECT_NE(r.out.find("step 80 loss"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step 80 val loss"), std::string::npos) << r.out;
  // The student is a model: it loads and generates.
  const testutil::CliResult run = RunCli("run -m " + P("student.gguf") + " -p \"the boat\" -n 4 --seed 1", dir_);
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST_F(DistillTest, BadInputFailsWithOneLineBeforeAnyWork) {
  const std::string teacher = testutil::TinyModelPath();
  // A student with another tokenizer (its vocab learned from other text).
  Write("other.txt", "completely different words: zebra quartz jukebox vexing fjord nymph waltz");
  ASSERT_EQ(RunCli("init --preset stories260k --random --vocab-text " + P("other.txt") + " " + P("other.gguf"), dir_)
                .exit_code, 0);
  Write("empty.txt", "");
  Write("bad.jsonl", "{\"prompt\": \n{\"prompt\":\"a\",\"response\":\"b\"}\n");
  Write("long.jsonl", "{\"prompt\":\"the boat\",\"response\":\"" + std::string(400, 'x') + "\"}\n");
  Write("prompts_empty.txt", "\n\n");
  Write("prompts_bad.jsonl", "{\"prompt\": 3}\n");
  Write("prompts.txt", "the boat\nthe harbor\n");
  const std::string logit = "distill --teacher " + teacher + " --steps 5 --ctx 32 --no-progress --out " + P("o.gguf");
  const std::string seq = "distill --teacher-url http://127.0.0.1:9/v1 --teacher-model m --preset stories260k --vocab " +
                          teacher + " --steps 5 --no-progress --out " + P("o.gguf");
  const std::pair<std::string, std::string> cases[] = {
      {logit + " -m " + P("other.gguf") + " --data " + P("data.txt"), "different tokenizers (token "},
      {logit + " --preset stories260k --data " + P("empty.txt"), "empty"},
      {logit + " --preset stories260k --data " + P("bad.jsonl"), "bad.jsonl:1: malformed JSON"},
      {logit + " --preset stories260k --data " + P("long.jsonl"), "long.jsonl:1: the example has"},
      {logit + " --preset stories260k --data " + P("missing.txt"), "missing.txt"},
      {logit + " --preset stories260k --data " + P("data.txt") + " --temperature 0", "--temperature must be > 0"},
      {"distill --teacher " + teacher + " --preset stories260k --data " + P("data.txt") + " --ctx 4096 --steps 5 --out " +
           P("o.gguf"), "longer than the teacher's context"},
      {seq + " --ctx 128 --prompts " + P("prompts_empty.txt"), "has no prompts"},
      {seq + " --ctx 128 --prompts " + P("prompts_bad.jsonl"), "prompts_bad.jsonl:1: needs \"messages\""},
      {seq + " --ctx 128 --prompts " + P("prompts.txt"), "teacher, prompt 1 of 2:"},
      {seq + " --ctx 16 --prompts " + P("prompts.txt"), "with the chat template; the context holds 16"},
      {"distill --preset stories260k --steps 5 --out " + P("o.gguf"), "give one teacher"},
  };
  for (const auto& [args, want] : cases) {
    const testutil::CliResult r = RunCli(args, dir_);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\n" << r.err;  // one line
    EXPECT_EQ(r.err.find("step "), std::string::npos) << args;
    EXPECT_FALSE(fs::exists(P("o.gguf"))) << args;
  }
  EXPECT_FALSE(fs::exists(P("o.gguf.pairs.jsonl")) && !ReadWholeFile(P("o.gguf.pairs.jsonl")).empty());
}

// A `flotilla serve` child process on a free loopback port.
class Server {
 public:
  Server(const std::string& model, const fs::path& scratch) {
    err_ = scratch / "serve.stderr";
    const std::string cmd = std::string("exec ") + FLOTILLA_BIN + " serve -m " + model + " --port 0 -t 1 --db " +
                            (scratch / "log.sqlite").string() + " 2>" + err_.string();
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 300 && port_ == 0; ++i) {  // at most 30 s
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const std::string err = ReadWholeFile(err_);
      const std::string marker = "on http://127.0.0.1:";
      if (size_t at = err.find(marker); at != std::string::npos) port_ = std::stoi(err.substr(at + marker.size()));
    }
  }
  ~Server() { Stop(); }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string log() const { return ReadWholeFile(err_); }

 private:
  fs::path err_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST_F(DistillTest, SequenceLevelLearnsTheAnswersOfARealServer) {
  const std::string teacher = testutil::TinyModelPath();
  const std::string name = fs::path(teacher).stem().string();
  Server server(teacher, dir_);
  ASSERT_NE(server.port(), 0) << server.log();
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/v1";
  const char* words[] = {"the boat", "a harbor", "the sea", "bread", "the lighthouse", "dawn", "the boats", "the way"};
  std::string prompts;
  for (int i = 0; i < 16; ++i) prompts += std::string(words[i % 8]) + (i >= 8 ? " and the sea" : "") + "\n";
  Write("prompts.txt", prompts);
  // The teacher's URL and key come from the environment, as the openai clients read them.
  setenv("OPENAI_BASE_URL", url.c_str(), 1);
  setenv("OPENAI_API_KEY", "any-key", 1);
  auto args = [&](int steps, const std::string& out) {
    return "distill --prompts " + P("prompts.txt") + " --teacher-model " + name +
           " --teacher-max-tokens 16 --preset stories260k --n-layer 2 --vocab " + teacher + " --steps " +
           std::to_string(steps) + " --batch 4 --ctx 192 --lr 3e-3 --val-fraction 0.25 --eval-every 20 -t 2"
           " --no-progress --pairs " + P("pairs.jsonl") + " --out " + P(out);
  };
  const testutil::CliResult first = RunCli(args(40, "student.gguf"), dir_);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("16 answers asked, 0 already in"), std::string::npos) << first.out;
  const double before = NumberAfter(first.out, "before: student val loss ");
  const double after = NumberAfter(first.out.substr(first.out.find("trained ")), "val loss ");
  std::printf("student val loss on the teacher's answers: %.4f -> %.4f\n", before, after);
  EXPECT_LT(after, before - 0.5) << first.out;

  // The saved pairs are what the teacher says to the same request.
  std::ifstream pairs(P("pairs.jsonl"));
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(60, 0);
  int lines = 0;
  for (std::string line; std::getline(pairs, line); ++lines) {
    const json saved = json::parse(line);
    ASSERT_EQ(saved["messages"].size(), 2u);
    EXPECT_EQ(saved["messages"][0]["content"], std::string(words[lines % 8]) + (lines >= 8 ? " and the sea" : ""));
    const json request = {{"model", name},
                          {"messages", json::array({saved["messages"][0]})},
                          {"max_tokens", 16},
                          {"temperature", 0.0}};
    auto reply = client.Post("/v1/chat/completions", request.dump(), "application/json");
    ASSERT_TRUE(reply);
    ASSERT_EQ(reply->status, 200) << reply->body;
    EXPECT_EQ(saved["messages"][1]["content"], json::parse(reply->body)["choices"][0]["message"]["content"]);
  }
  EXPECT_EQ(lines, 16);

  // With the teacher gone, a second run reuses every saved answer and asks nothing.
  server.Stop();
  const testutil::CliResult again = RunCli(args(2, "again.gguf"), dir_);
  unsetenv("OPENAI_BASE_URL");
  unsetenv("OPENAI_API_KEY");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 answers asked, 16 already in"), std::string::npos) << again.out;
}

}  // namespace
}  // namespace flotilla
