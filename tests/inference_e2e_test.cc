// run, chat, perplexity and quantize through the binary: against llama.cpp's references when
// ../shared is there, and on a model the test generates otherwise.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "gguf/gguf.h"
#include "model/test_model.h"
#include "shared_dir.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using testutil::RunCli;

constexpr char kPrompt[] = "Once upon a time, there was a little";

class InferenceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flotilla_inference_e2e_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    tiny_ = testutil::TinyModelPath();
  }
  testutil::CliResult Run(const std::string& args, const std::string& in = "/dev/null") {
    return RunCli(args, dir_, in);
  }
  fs::path dir_;
  std::string tiny_;
};

TEST_F(InferenceCli, RunStreamsTheReferenceGreedyText) {
  SKIP_WITHOUT_SHARED(shared);
  for (std::string m : {"stories260K-f32", "stories260K-ff192-q8_0"}) {
    auto r = Run("run -m " + shared + "/models/stories260K/" + m + ".gguf -p '" + kPrompt +
                 "' -n 64 --temp 0 -c 256 -t 2 --ignore-eos");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string want = testutil::ReadWholeFile(shared + "/ref/greedy/" + m + ".cli_greedy64.txt");
    want.resize(want.size() - 2);  // llama-cli appends "\n\n", we append "\n"
    EXPECT_EQ(r.out, want + "\n") << m;
  }
}

TEST_F(InferenceCli, ResidentMemoryStaysWithinFileSizeKvCacheAnd64MB) {
  SKIP_WITHOUT_SHARED(shared);
  const std::string model = shared + "/models/synth/synth15M-q8_0.gguf";
  auto r = Run("run -m " + model + " -p hello -n 32 -c 256 --ignore-eos");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const long kv_kb = 6L * 256 * 288 * 2 * 2 / 1024;  // layers x ctx x n_embd_kv x (K, V) x f16
  const long limit_kb = static_cast<long>(fs::file_size(model) / 1024) + kv_kb + 64 * 1024;
  EXPECT_LE(r.max_rss_kb, limit_kb);
  std::printf("peak RSS %ld kB, limit %ld kB\n", r.max_rss_kb, limit_kb);
}

TEST_F(InferenceCli, PerplexityMatchesLlamaCppWithinHalfAPercent) {
  SKIP_WITHOUT_SHARED(shared);
  auto r = Run("perplexity --json -m " + shared + "/models/stories260K/stories260K-ff192-f32.gguf -f " + shared +
               "/ref/ppl/ppl_text_GFDL-1.2.txt -c 256 -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  const double reference = 85.3358;  // ref/ppl_summary.csv
  std::printf("perplexity %.4f (llama.cpp %.4f), %d chunks\n", j["perplexity"].get<double>(), reference,
              j["n_chunks"].get<int>());
  EXPECT_EQ(j["n_chunks"], 49);
  EXPECT_LE(std::fabs(j["perplexity"].get<double>() / reference - 1.0), 0.005);
}

TEST_F(InferenceCli, QuantizeReproducesLlamaCppBytesAndTheResultRuns) {
  SKIP_WITHOUT_SHARED(shared);
  const std::string dir = shared + "/models/stories260K/";
  for (std::string type : {"q8_0", "q4_0"}) {
    const std::string out = (dir_ / ("ours-" + type + ".gguf")).string();
    auto r = Run("quantize " + dir + "stories260K-ff192-f32.gguf " + out + " " + type);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    StatusOr<gguf::File> ours = gguf::File::Open(out);
    StatusOr<gguf::File> theirs = gguf::File::Open(dir + "stories260K-ff192-" + type + ".gguf");
    ASSERT_TRUE(ours.ok() && theirs.ok());
    ASSERT_EQ(ours->tensors().size(), theirs->tensors().size());
    for (const gguf::TensorInfo& t : theirs->tensors()) {
      const gguf::TensorInfo* o = ours->FindTensor(t.name);
      ASSERT_NE(o, nullptr) << t.name;
      EXPECT_EQ(o->dtype, t.dtype) << type << " " << t.name;
      EXPECT_TRUE(o->n_bytes == t.n_bytes && std::equal(t.data, t.data + t.n_bytes, o->data)) << type << " " << t.name;
    }
    auto run = Run("run -m " + out + " -p '" + kPrompt + "' -n 16 --temp 0");
    EXPECT_EQ(run.exit_code, 0) << run.err;
  }
}

TEST_F(InferenceCli, QuantizeEveryWrittenTypeLoadsAndRuns) {
  for (std::string type : {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_M", "Q5_K", "Q6_K", "Q2_K", "Q3_K"}) {
    const std::string out = (dir_ / ("tiny-" + type + ".gguf")).string();
    auto q = Run("quantize " + tiny_ + " " + out + " " + type);
    ASSERT_EQ(q.exit_code, 0) << type << ": " << q.err;
    auto r = Run("run -m " + out + " -p 'the boat' -n 8 --temp 0");
    EXPECT_EQ(r.exit_code, 0) << type << ": " << r.err;
  }
  EXPECT_EQ(Run("quantize " + tiny_ + " " + (dir_ / "x.gguf").string() + " Q9_9").exit_code, 1);
  EXPECT_EQ(Run("quantize " + tiny_ + " " + tiny_ + " Q8_0").exit_code, 1);
  EXPECT_FALSE(fs::exists(dir_ / "x.gguf"));
}

TEST_F(InferenceCli, RunErrorsAreClear) {
  // An architecture flotilla does not run.
  gguf::Writer w;
  w.Set("general.architecture", gguf::Value::String("gpt9"));
  const std::string bad = (dir_ / "gpt9.gguf").string();
  ASSERT_TRUE(w.WriteFile(bad).ok());
  auto r = Run("run -m " + bad + " -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("gpt9"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("llama, qwen2"), std::string::npos) << r.err;

  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "the boat ";
  r = Run("run -m " + tiny_ + " -c 16 -n 4 -p '" + long_prompt + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--truncate"), std::string::npos) << r.err;
  r = Run("run -m " + tiny_ + " -c 16 -n 4 --truncate -p '" + long_prompt + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;

  EXPECT_EQ(Run("run -m " + tiny_ + " -p hi --kv-type q4_0").exit_code, 1);
  EXPECT_EQ(Run("run -m " + tiny_ + " -p hi --top-p 0").exit_code, 1);
  EXPECT_EQ(Run("run -m " + (dir_ / "missing.gguf").string() + " -p hi").exit_code, 1);
}

TEST_F(InferenceCli, SameSeedSameTextAndStopStrings) {
  const std::string base = "run -m " + tiny_ + " -p 'the boat' -n 24 --ignore-eos --temp 1 --seed ";
  auto a = Run(base + "5"), b = Run(base + "5");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  auto g = Run("run -m " + tiny_ + " -p 'the boat' -n 24 --ignore-eos --temp 0");
  ASSERT_GT(g.out.size(), 8u);
  const std::string stop = g.out.substr(g.out.size() / 2, 2);
  auto s = Run("run -m " + tiny_ + " -p 'the boat' -n 24 --ignore-eos --temp 0 --stop '" + stop + "'");
  EXPECT_EQ(s.out, g.out.substr(0, g.out.find(stop)) + "\n");
}

TEST_F(InferenceCli, CtrlCStopsGenerationCleanly) {
  const std::string out = (dir_ / "sigint.out").string();
  // A context long enough that generation is still running when the signal comes: 4096 tokens took
  // 0.68 s on a fast minute of the CI machine, less than the 700 ms wait; 16384 take over 5 s.
  const std::string cmd = std::string("exec ") + FLOTILLA_BIN + " run -m " + tiny_ +
                          " -p 'the boat' -n -1 -c 16384 --ignore-eos >" + out + " 2>&1";
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_NE(testutil::ReadWholeFile(out).find("interrupted"), std::string::npos);
}

TEST_F(InferenceCli, ChatKeepsAConversation) {
  const std::string in = (dir_ / "chat.in").string();
  std::ofstream(in) << "the boat\n/clear\nthe harbor\nand the sea\n/bye\n";
  auto r = Run("chat -m " + tiny_ + " -n 6 --temp 0 --system-prompt 'be brief'", in);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3);  // three answers
}

}  // namespace
}  // namespace flotilla
