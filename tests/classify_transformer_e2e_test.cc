// The transformer classifier family end to end through the CLI: `train classify --family transformer`
// from scratch and on a backbone pretrained with `flotilla train` (next-token) on unlabeled text, then
// `eval classify` and `classify` on the saved GGUF; bad settings and broken files fail with one line.
// Models are tiny (one layer, width 32) so each run takes a few seconds.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"

namespace {

namespace fs = std::filesystem;
using flotilla::testutil::CliResult;
using flotilla::testutil::RunCli;

const char kTiny[] = " --n-embd 32 --n-layer 1 --n-head 2 --n-ff 64 --vocab-size 300 --batch 8 -t 2";

class ClassifyTransformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flotilla_classify_tf_e2e_" + std::to_string(::getpid()));
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
  // Texts of three topics, each from its own words inside shared filler; `csv`: with a label column.
  static std::string Topics(int per_class, uint64_t seed, bool csv) {
    const char* words[3][4] = {{"card", "arrive", "delivery", "lost"},
                               {"weather", "rain", "forecast", "cold"},
                               {"song", "music", "volume", "album"}};
    const char* fillers[4] = {"please", "can you", "i want", "tell me"};
    const char* names[3] = {"card", "weather", "music"};
    std::mt19937_64 rng(seed);
    std::string out = csv ? "text,label\n" : "";
    for (int i = 0; i < per_class; ++i) {
      for (int c = 0; c < 3; ++c) {
        std::string text = fillers[rng() % 4];
        for (int k = 0; k < 2; ++k) text += std::string(" ") + words[c][rng() % 4];
        out += text + " now" + (csv ? std::string(",") + names[c] : "") + "\n";
      }
    }
    return out;
  }
  // Accuracy by `eval classify`; `trained`: the JSON of `train classify --json`, whose calibration
  // the saved model must carry.
  double Accuracy(const std::string& model, const std::string& test, const std::string& trained = "") const {
    CliResult r = Run("eval classify -m " + model + " --test " + test + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return 0;
    nlohmann::json e = nlohmann::json::parse(r.out);
    if (!trained.empty()) {
      const nlohmann::json t = nlohmann::json::parse(trained);
      EXPECT_FLOAT_EQ(e["temperature"].get<float>(), t["temperature"].get<float>());
      EXPECT_FLOAT_EQ(e["abstain"]["threshold"].get<float>(), t["abstain_threshold"].get<float>());
      EXPECT_EQ(e["abstain"]["target"], t["abstain_target"]);
      EXPECT_GT(e["train_seconds"].get<double>(), 0);
    }
    for (const char* key : {"macro_f1", "ece", "coverage_at_precision", "latency_ms", "train_seconds"}) {
      EXPECT_TRUE(e.contains(key)) << key;
    }
    return e["accuracy"].get<double>();
  }
  static void ExpectCleanError(const CliResult& r, const std::string& needle) {
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }

  fs::path dir_;
};

TEST_F(ClassifyTransformerTest, FromScratchTrainsSavesLoadsEvaluates) {
  const std::string train = Write("train.csv", Topics(40, 1, true));
  const std::string test = Write("test.csv", Topics(15, 2, true));
  CliResult r = Run("train classify --family transformer --train " + train + " -o " + Path("m.gguf") + kTiny +
                    " --epochs 12 --lr 3e-3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json t = nlohmann::json::parse(r.out);
  EXPECT_EQ(t["architecture"], "flotilla-transformer");
  EXPECT_EQ(t["labels"], 3);
  EXPECT_GT(t["calibration_examples"].get<int>(), 0);  // held out from train (no --dev)
  EXPECT_GT(t["temperature"].get<double>(), 0);
  EXPECT_GT(Accuracy(Path("m.gguf"), test, r.out), 0.9);  // chance is 1/3

  r = Run("classify -m " + Path("m.gguf") + " 'tell me rain forecast now' 'please album song now'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("weather\t", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\nmusic\t"), std::string::npos) << r.out;
  const std::string in = Write("in.txt", "i want card lost now\n\ncan you rain cold now\n");
  r = Run("classify -m " + Path("m.gguf") + " --json", in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("abstain") && j.contains("confidence"));
    ++n;
  }
  EXPECT_EQ(n, 3);  // the empty line too
}

// "Optionally pretrained on unlabeled text": a language model trained with `flotilla train` on the
// texts without labels is the backbone the classifier fine-tunes.
TEST_F(ClassifyTransformerTest, PretrainedBackbone) {
  const std::string unlabeled = Write("unlabeled.txt", Topics(60, 5, false));
  CliResult r = Run("train --preset stories260k --n-layer 1 --n-embd 32 --n-head 2 --n-ff 64 --vocab-size 300 "
                    "--data " + unlabeled + " --steps 40 --batch 8 --ctx 32 --lr 3e-3 --eval-every 0 -t 2 "
                    "--no-progress --out " + Path("lm.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string train = Write("train.csv", Topics(40, 1, true));
  const std::string dev = Write("dev.csv", Topics(10, 3, true));
  r = Run("train classify --family transformer --backbone " + Path("lm.gguf") + " --train " + train + " --dev " +
          dev + " -o " + Path("b.gguf") + " --epochs 8 --lr 3e-3 --batch 8 -t 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["calibration_examples"], 30);
  const std::string test = Write("test.csv", Topics(15, 2, true));
  EXPECT_GT(Accuracy(Path("b.gguf"), test, r.out), 0.9);
  // LoRA on the frozen backbone: adapters and head trained, merged into the saved body.
  r = Run("train classify --family transformer --backbone " + Path("lm.gguf") + " --lora-rank 4 --train " + train +
          " --dev " + dev + " -o " + Path("l.gguf") + " --epochs 8 --lr 1e-2 --batch 8 -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(Accuracy(Path("l.gguf"), test), 0.9);
}

TEST_F(ClassifyTransformerTest, BadInputFailsWithOneLine) {
  const std::string train = Write("train.csv", Topics(10, 1, true));
  const std::string out = " -o " + Path("m.gguf");
  ExpectCleanError(Run("train classify --family bogus --train " + train + out), "--family");
  ExpectCleanError(Run("train classify --family transformer --n-embd 30 --n-head 4 --train " + train + out),
                   "n_head");
  ExpectCleanError(Run("train classify --family transformer --pooling max --train " + train + out), "pooling");
  ExpectCleanError(Run("train classify --family transformer --lora-rank 4 --train " + train + out), "--backbone");
  ExpectCleanError(Run("train classify --family transformer --backbone " + Path("none.gguf") + " --train " + train +
                       out), "none.gguf");
  // A classifier file is not a language-model backbone.
  ASSERT_EQ(Run("train classify --train " + train + " -o " + Path("ngram.gguf") + " --hash-bits 12").exit_code, 0);
  ExpectCleanError(Run("train classify --family transformer --backbone " + Path("ngram.gguf") + " --train " + train +
                       out), "ngram.gguf");
  // A transformer model cut short is refused when loaded, naming the file.
  ASSERT_EQ(Run("train classify --family transformer --train " + train + out + kTiny + " --epochs 1").exit_code, 0);
  std::ifstream in(Path("m.gguf"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);
  const std::string cut = Write("cut.gguf", bytes.substr(0, bytes.size() / 2));
  ExpectCleanError(Run("classify -m " + cut + " hello"), "cut.gguf");
  ExpectCleanError(Run("eval classify -m " + cut + " --test " + train), "cut.gguf");
}

}  // namespace
