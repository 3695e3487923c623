// flotilla train end to end: a run killed with SIGKILL and resumed from its checkpoint logs the same
// losses and writes the same model as an uninterrupted run; the trained GGUF loads in `flotilla run`;
// chat JSONL data; bad input fails before any work with a one-line reason.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "cli_test_util.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using testutil::ReadWholeFile;
using testutil::RunCli;

class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flotilla_train_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    // ~60 KB of sentences from a small grammar (fixed seed), enough for a learned vocab and a split.
    std::mt19937 rng(7);
    const char* subj[] = {"the boat", "a sailor", "the old harbor", "my captain", "the small ship", "her crew"};
    const char* verb[] = {"carried", "watched", "found", "sailed past", "waited for", "remembered"};
    const char* obj[] = {"the lighthouse", "bread and salt", "the morning tide", "a quiet island", "the north wind"};
    std::ofstream out(dir_ / "data.txt");
    for (int i = 0; i < 2000; ++i) {
      out << subj[rng() % 6] << " " << verb[rng() % 6] << " " << obj[rng() % 5] << (i % 5 == 4 ? ".\n" : ". ");
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }

  // Common flags of the resume test: a small model, deterministic with 2 threads.
  std::string Args(const std::string& out) const {
    return "train --preset stories260k --n-layer 2 --vocab-size 300 --data " + P("data.txt") +
           " --steps 300 --batch 4 --ctx 32 --lr 2e-3 --eval-every 50 --checkpoint-every 10 --seed 3 -t 2 "
           "--no-progress --out " + out;
  }
  fs::path dir_;
};

// "step N loss ..." and "step N val loss ..." lines by step and kind.
std::map<std::string, std::string> StepLines(const std::string& log) {
  std::map<std::string, std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("step ", 0) != 0) continue;
    std::istringstream words(line);
    std::string step_word, step, kind;
    words >> step_word >> step >> kind;
    lines[step + " " + kind] = line;
  }
  return lines;
}

TEST_F(TrainTest, KilledRunResumesWithTheSameLossCurve) {
  const testutil::CliResult full = RunCli(Args(P("full.gguf")), dir_);
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_NE(full.out.find("val loss"), std::string::npos);
  const std::map<std::string, std::string> want = StepLines(full.out);
  ASSERT_EQ(want.count("300 loss"), 1u);

  // The same run, killed with SIGKILL once it has logged step 40 (its checkpoint is at 40 or earlier).
  const std::string log = P("killed.log");
  const std::string cmd = std::string("exec ") + FLOTILLA_BIN + " " + Args(P("resumed.gguf")) + " >" + log + " 2>&1";
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (ReadWholeFile(log).find("step 40 loss") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  ASSERT_FALSE(fs::exists(P("resumed.gguf")));
  ASSERT_TRUE(fs::exists(P("resumed.gguf.ckpt")));

  const testutil::CliResult resumed = RunCli(Args(P("resumed.gguf")) + " --resume", dir_);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming after step"), std::string::npos) << resumed.err;
  const std::map<std::string, std::string> got = StepLines(resumed.out);
  ASSERT_GT(got.size(), 260u);  // resumed from step 40 or earlier
  for (const auto& [key, line] : got) EXPECT_EQ(line, want.at(key));
  // Bit-identical weights.
  EXPECT_EQ(ReadWholeFile(P("resumed.gguf")), ReadWholeFile(P("full.gguf")));

  // The trained model loads and generates.
  const testutil::CliResult run = RunCli("run -m " + P("full.gguf") + " -p 'the boat' -n 8 --temp 0", dir_);
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST_F(TrainTest, FineTunesOnChatPairsWithAnswerOnlyLoss) {
  const testutil::CliResult base = RunCli("train --preset stories260k --n-layer 1 --vocab-size 300 --data " + P("data.txt") +
                                          " --steps 5 --batch 2 --ctx 32 --no-progress --out " + P("base.gguf"), dir_);
  ASSERT_EQ(base.exit_code, 0) << base.err;
  std::ofstream(P("chat.jsonl")) << R"({"prompt": "where is the boat", "response": "the boat sailed past the lighthouse."})" "\n"
                                 << R"({"messages": [{"role": "user", "content": "who waited"}, {"role": "assistant", "content": "her crew waited for the tide."}]})" "\n"
                                 << R"({"instruction": "what did the sailor find", "output": "a quiet island."})" "\n";
  const testutil::CliResult chat = RunCli("train -m " + P("base.gguf") + " --data " + P("chat.jsonl") +
                                          " --steps 4 --batch 2 --ctx 160 --val-fraction 0.34 --no-progress --out " + P("chat.gguf"), dir_);
  EXPECT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_NE(chat.out.find("step 4 val loss"), std::string::npos) << chat.out;
}

TEST_F(TrainTest, BadInputFailsWithOneLineReason) {
  std::ofstream(P("empty.txt")).close();
  std::ofstream(P("long.jsonl")) << R"({"prompt": "p", "response": ")" << std::string(3000, 'x') << "\"}\n";
  std::ofstream(P("broken.jsonl")) << "{\"prompt\": \n";
  const std::string common = " --steps 2 --batch 1 --ctx 32 --no-progress --out " + P("x.gguf");
  struct Case {
    std::string args, reason;
  } cases[] = {
      {"train --preset stories260k --data " + P("empty.txt") + common, "is empty"},
      {"train --preset stories260k --data " + P("missing.txt") + common, "missing.txt"},
      {"train --preset nope --data " + P("data.txt") + common, "unknown preset"},
      {"train --preset stories260k --data " + P("data.txt") + common + " --resume", "no checkpoint"},
      {"train --preset stories260k --vocab-size 300 --data " + P("long.jsonl") + common, "the context holds"},
      {"train --preset stories260k --vocab-size 300 --data " + P("broken.jsonl") + common, "malformed JSON"},
      {"train -m " + P("missing.gguf") + " --data " + P("data.txt") + common, "missing.gguf"},
  };
  for (const Case& c : cases) {
    const testutil::CliResult r = RunCli(c.args, dir_);
    EXPECT_EQ(r.exit_code, 1) << c.args;
    EXPECT_NE(r.err.find(c.reason), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(P("x.gguf")));
  }
}

}  // namespace
}  // namespace flotilla
