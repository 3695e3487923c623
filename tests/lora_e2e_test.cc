// LoRA end to end: `flotilla train --lora-rank` on a small generated model lowers the held-out
// perplexity of a new domain and writes a merged GGUF and a llama.cpp-format adapter;
// `flotilla run --lora ADAPTER` on the base generates exactly what the merged model generates;
// Ctrl-C then --resume continues a LoRA run to the same adapter; bad targets, ranks and adapters
// for another model fail with one line before any work.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "cli_test_util.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using testutil::ReadWholeFile;
using testutil::RunCli;

// Sentences of a small grammar: `n` of them from `seed`.
void WriteGrammar(const fs::path& path, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  const char* subj[] = {"the boat", "a sailor", "the old harbor", "my captain", "the small ship", "her crew"};
  const char* verb[] = {"carried", "watched", "found", "sailed past", "waited for", "remembered"};
  const char* obj[] = {"the lighthouse", "bread and salt", "the morning tide", "a quiet island", "the north wind"};
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) out << subj[rng() % 6] << " " << verb[rng() % 6] << " " << obj[rng() % 5] << ". ";
}

// "Final estimate: PPL = 12.3456 ..." of `flotilla perplexity`.
double Ppl(const testutil::CliResult& r) {
  const size_t at = r.out.find("PPL = ");
  if (at == std::string::npos) return -1.0;
  return std::stod(r.out.substr(at + 6));
}

class LoraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flotilla_lora_e2e_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    WriteGrammar(dir_ / "data.txt", 1200, 7);
    WriteGrammar(dir_ / "heldout.txt", 150, 99);
    const testutil::CliResult init = RunCli("init --preset stories260k --random --seed 4 --vocab-text " +
                                            P("data.txt") + " " + P("base.gguf"), dir_);
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }
  std::string LoraArgs(const std::string& out, int steps, const std::string& shape = "--batch 4 --ctx 32") const {
    return "train -m " + P("base.gguf") + " --lora-rank 4 --lora-targets attn_q,attn_v,ffn_down --data " +
           P("data.txt") + " --steps " + std::to_string(steps) + " " + shape +
           " --lr 1e-2 --eval-every 20 --seed 3 -t 2 --no-progress --out " + out;
  }
  fs::path dir_;
};

TEST_F(LoraTest, LowersHeldOutPerplexityAndRunAppliesTheAdapterAsMerged) {
  const testutil::CliResult train = RunCli(LoraArgs(P("tuned.gguf"), 60), dir_);
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_NE(train.out.find("step 60 val loss"), std::string::npos) << train.out;
  ASSERT_TRUE(fs::exists(P("tuned.gguf")));
  ASSERT_TRUE(fs::exists(P("tuned.lora.gguf")));
  EXPECT_LT(fs::file_size(P("tuned.lora.gguf")), fs::file_size(P("tuned.gguf")) / 4);

  const std::string ppl = " -f " + P("heldout.txt") + " -c 64 -t 2";
  const double base = Ppl(RunCli("perplexity -m " + P("base.gguf") + ppl, dir_));
  const double merged = Ppl(RunCli("perplexity -m " + P("tuned.gguf") + ppl, dir_));
  const testutil::CliResult with_lora = RunCli("perplexity -m " + P("base.gguf") + " --lora " + P("tuned.lora.gguf") + ppl, dir_);
  ASSERT_GT(base, 0);
  EXPECT_LT(merged, base * 0.8) << "held-out perplexity " << base << " -> " << merged;
  EXPECT_EQ(Ppl(with_lora), merged) << with_lora.err;
  // Scale 0 is the base exactly; scale 1 the plain --lora.
  EXPECT_EQ(Ppl(RunCli("perplexity -m " + P("base.gguf") + " --lora-scaled " + P("tuned.lora.gguf") + " 0" + ppl, dir_)), base);
  EXPECT_EQ(Ppl(RunCli("perplexity -m " + P("base.gguf") + " --lora-scaled " + P("tuned.lora.gguf") + " 1" + ppl, dir_)), merged);

  // Greedy generation: base + adapter at load == the merged GGUF, token for token.
  const std::string gen = " -p 'the boat' -n 24 --temp 0 --ignore-eos -t 2";
  const testutil::CliResult a = RunCli("run -m " + P("tuned.gguf") + gen, dir_);
  const testutil::CliResult b = RunCli("run -m " + P("base.gguf") + " --lora " + P("tuned.lora.gguf") + gen, dir_);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
}

TEST_F(LoraTest, InterruptedRunResumesToTheSameAdapter) {
  const std::string kSmall = "--batch 2 --ctx 16";
  const testutil::CliResult full = RunCli(LoraArgs(P("full.gguf"), 300, kSmall), dir_);
  ASSERT_EQ(full.exit_code, 0) << full.err;

  // Ctrl-C once step 20 is logged: the run writes its checkpoint and stops.
  const std::string log = P("cut.log");
  const std::string cmd = std::string("exec ") + FLOTILLA_BIN + " " + LoraArgs(P("cut.gguf"), 300, kSmall) + " >" + log + " 2>&1";
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (ReadWholeFile(log).find("step 20 loss") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << ReadWholeFile(log);  // interrupted
  EXPECT_NE(ReadWholeFile(log).find("continue with --resume"), std::string::npos) << ReadWholeFile(log);
  ASSERT_FALSE(fs::exists(P("cut.lora.gguf")));

  const testutil::CliResult resumed = RunCli(LoraArgs(P("cut.gguf"), 300, kSmall) + " --resume", dir_);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming after step"), std::string::npos) << resumed.err;
  const size_t last = full.out.find("step 300 loss");
  ASSERT_NE(last, std::string::npos);
  EXPECT_NE(resumed.out.find(full.out.substr(last, full.out.find('\n', last) - last)), std::string::npos);
  EXPECT_EQ(ReadWholeFile(P("cut.lora.gguf")), ReadWholeFile(P("full.lora.gguf")));
  EXPECT_EQ(ReadWholeFile(P("cut.gguf")), ReadWholeFile(P("full.gguf")));

  // Resuming with other LoRA options is refused.
  const testutil::CliResult other = RunCli(LoraArgs(P("cut.gguf"), 300, kSmall) + " --lora-alpha 3 --resume", dir_);
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("resume with the same options"), std::string::npos) << other.err;
}

TEST_F(LoraTest, BadInputFailsWithOneLineReason) {
  const testutil::CliResult q = RunCli("init --arch qwen2 --preset stories260k --random --vocab-text " + P("data.txt") +
                                       " " + P("qwen.gguf"), dir_);
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const testutil::CliResult qa = RunCli("train -m " + P("qwen.gguf") + " --lora-rank 2 --data " + P("data.txt") +
                                        " --steps 2 --batch 1 --ctx 16 --no-progress --out " + P("q.gguf"), dir_);
  ASSERT_EQ(qa.exit_code, 0) << qa.err;

  const std::string common = " --data " + P("data.txt") + " --steps 2 --batch 1 --ctx 16 --no-progress --out " + P("x.gguf");
  const std::string base = "train -m " + P("base.gguf");
  const std::string run = "run -p hi -n 2 -m " + P("base.gguf");
  struct Case {
    std::string args, reason;
  } cases[] = {
      {base + " --lora-rank 4 --lora-targets attn_q,wq" + common, "unknown LoRA target 'wq'"},
      {base + " --lora-rank 0" + common, "must be positive"},
      {base + " --lora-rank -2" + common, "must be positive"},
      {base + " --lora-rank 100" + common, "too big"},
      {"train --preset stories260k --lora-rank 4" + common, "needs -m"},
      {base + " --lora-alpha 8" + common, "need --lora-rank"},
      {base + " --lora-targets attn_q" + common, "need --lora-rank"},
      {run + " --lora " + P("q.lora.gguf"), "adapter is for architecture qwen2"},
      {run + " --lora " + P("base.gguf"), "not a LoRA adapter"},
      {run + " --lora " + P("missing.gguf"), "missing.gguf"},
  };
  for (const Case& c : cases) {
    const testutil::CliResult r = RunCli(c.args, dir_);
    EXPECT_EQ(r.exit_code, 1) << c.args;
    EXPECT_NE(r.err.find(c.reason), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(r.out.find("step "), std::string::npos) << "work started before the error: " << c.args;
  }
  EXPECT_FALSE(fs::exists(P("x.gguf")));
}

}  // namespace
}  // namespace flotilla
