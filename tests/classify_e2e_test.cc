// `flotilla train classify`, `eval classify` and `classify` end to end: a round trip on generated
// data, one-line errors or warnings (never a crash) on bad input, and the quality targets on CLINC150
// and Banking77 from ../shared/data (skipped when absent). Their training-time target (<= 60 s on 2
// cores) is measured by bench/classify_vs_fasttext.sh, not here: a shared machine's load is no failure.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "shared_dir.h"

namespace {

namespace fs = std::filesystem;
using flotilla::testutil::CliResult;
using flotilla::testutil::RunCli;

class ClassifyCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flotilla_classify_e2e_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string Write(const std::string& name, const std::string& bytes) const {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    return Path(name);
  }
  CliResult Run(const std::string& args, const std::string& stdin_file = "/dev/null") const {
    return RunCli(args, dir_, stdin_file);
  }
  // A CSV of three topics; `extra` rows appended verbatim.
  std::string TopicsCsv(int per_class, uint64_t seed, const std::string& extra = "") const {
    const char* words[3][4] = {{"card", "arrive", "delivery", "lost"},
                               {"weather", "rain", "forecast", "cold"},
                               {"song", "music", "volume", "album"}};
    const char* names[3] = {"card", "weather", "music"};
    std::mt19937_64 rng(seed);
    std::string csv = "text,label\n";
    for (int i = 0; i < per_class; ++i) {
      for (int c = 0; c < 3; ++c) {
        csv += "\"please, ";
        for (int k = 0; k < 3; ++k) csv += std::string(words[c][rng() % 4]) + " ";
        csv += std::string("now\",") + names[c] + "\n";
      }
    }
    return csv + extra;
  }
  // The process ended by itself (no signal) with exit status 1 and a one-line message.
  static void ExpectCleanError(const CliResult& r, const std::string& needle) {
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
  }

  fs::path dir_;
};

TEST_F(ClassifyCliTest, TrainEvalClassifyRoundTrip) {
  const std::string train = Write("train.csv", TopicsCsv(40, 1));
  const std::string test = Write("test.csv", TopicsCsv(10, 2));
  CliResult r = Run("train classify --train " + train + " -o " + Path("m.gguf") + " --hash-bits 16 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json t = nlohmann::json::parse(r.out);
  EXPECT_EQ(t["labels"], 3);
  r = Run("eval classify -m " + Path("m.gguf") + " --test " + test + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json e = nlohmann::json::parse(r.out);
  EXPECT_GT(e["accuracy"].get<double>(), 0.95);
  EXPECT_LE(e["accuracy"].get<double>(), 1.0);
  for (const char* key : {"macro_f1", "ece", "coverage_at_precision", "latency_ms", "train_seconds", "abstain"}) {
    EXPECT_TRUE(e.contains(key)) << key;
  }
  r = Run("eval classify -m " + Path("m.gguf") + " --test " + test);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("risk-coverage"), std::string::npos);
  r = Run("classify -m " + Path("m.gguf") + " 'will it rain' 'play an album'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("weather\t", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\nmusic\t"), std::string::npos) << r.out;
  const std::string in = Write("in.txt", "where is my card\n\nsunny forecast\n");
  r = Run("classify -m " + Path("m.gguf") + " --json --top-k 2 --target-precision 0.99", in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("abstain") && j.contains("confidence") && j["top"].size() == 2);
    ++n;
  }
  EXPECT_EQ(n, 3);
}

TEST_F(ClassifyCliTest, BadInputIsAnErrorOrAWarning) {
  const std::string model = Path("m.gguf");
  ExpectCleanError(Run("train classify --train " + Write("nocol.csv", "body,label\na,b\n") + " -o " + model),
                   "no column \"text\"");
  ExpectCleanError(Run("train classify --train " + Write("empty.csv", "") + " -o " + model), "empty");
  ExpectCleanError(Run("train classify --train " + Write("one.csv", "text,label\na,x\nb,x\n") + " -o " + model),
                   "only one class");
  ExpectCleanError(Run("train classify --train " + Write("q.csv", "text,label\n\"a,x\n") + " -o " + model),
                   "q.csv:2:1");
  ExpectCleanError(Run("train classify --train " + Write("b.jsonl", "{\"text\": 1,}\n") + " -o " + model), "b.jsonl:1");
  ExpectCleanError(Run("train classify --train " + Path("missing.csv") + " -o " + model), "missing.csv");
  // Non-UTF-8 bytes and empty labels are warnings; training goes on.
  const std::string train = Write("t.csv", TopicsCsv(20, 3, "caf\xe9 \xff,card\nno label here,\n"));
  CliResult r = Run("train classify --train " + train + " -o " + model + " --hash-bits 14");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("not UTF-8"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("empty label"), std::string::npos) << r.err;
  // A label only in the test file is counted as an error, with a warning.
  r = Run("eval classify -m " + model + " --test " + Write("test.csv", TopicsCsv(2, 4, "hello,greeting\n")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("\"greeting\""), std::string::npos) << r.err;
  ExpectCleanError(Run("eval classify -m " + Write("bad.gguf", "GGUF garbage") + " --test " + Path("test.csv")),
                   "bad.gguf");
  ExpectCleanError(Run("classify -m " + train + " hello"), "t.csv");
}

// CLINC150's JSON ({"train": [[text, label], ...], ...}) as JSONL splits in `dir`.
void WriteClincSplits(const std::string& shared, const fs::path& dir) {
  std::ifstream in(shared + "/data/clinc150/data_full.json");
  nlohmann::json d = nlohmann::json::parse(in);
  const std::vector<std::pair<std::string, std::vector<std::string>>> splits = {
      {"train", {"train", "oos_train"}}, {"dev", {"val", "oos_val"}}, {"test", {"test", "oos_test"}}};
  for (const auto& [name, parts] : splits) {
    std::ofstream out(dir / (name + ".jsonl"));
    for (const std::string& p : parts) {
      for (const auto& row : d[p]) out << nlohmann::json{{"text", row[0]}, {"label", row[1]}}.dump() << "\n";
    }
  }
}

TEST_F(ClassifyCliTest, Clinc150Targets) {
  SKIP_WITHOUT_SHARED(shared);
  if (!fs::exists(shared + "/data/clinc150/data_full.json")) GTEST_SKIP() << "no CLINC150 in ../shared/data";
  WriteClincSplits(shared, dir_);
  CliResult r = Run("train classify --train " + Path("train.jsonl") + " --dev " + Path("dev.jsonl") + " -o " +
                    Path("clinc.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Run("eval classify -m " + Path("clinc.gguf") + " --test " + Path("test.jsonl") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json e = nlohmann::json::parse(r.out);
  const nlohmann::json& o = e["out_of_scope"];
  EXPECT_GE(o["in_scope_accuracy"].get<double>(), 0.92);
  EXPECT_GE(o["oos_recall_with_abstain"].get<double>(), 0.50);
  EXPECT_LE(o["in_scope_accuracy"].get<double>() - o["in_scope_accuracy_with_abstain"].get<double>(), 0.02);
}

TEST_F(ClassifyCliTest, Banking77Targets) {
  SKIP_WITHOUT_SHARED(shared);
  const std::string data = shared + "/data/banking77";
  if (!fs::exists(data + "/train.csv")) GTEST_SKIP() << "no Banking77 in ../shared/data";
  CliResult r = Run("train classify --train " + data + "/train.csv --label-col category -o " + Path("b.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Run("eval classify -m " + Path("b.gguf") + " --test " + data + "/test.csv --label-col category --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json e = nlohmann::json::parse(r.out);
  EXPECT_GE(e["accuracy"].get<double>(), 0.90);
}

}  // namespace
