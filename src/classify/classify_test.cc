// Unit tests of the classify layer on small generated data: parsing (CSV quoting, TSV, JSONL, bad
// input), features, calibration math, training, GGUF round trip and corrupt model files.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "classify/calibration.h"
#include "classify/dataset.h"
#include "classify/evaluate.h"
#include "classify/featurizer.h"
#include "base/file_util.h"
#include "classify/trainer.h"
#include "gguf/gguf.h"

namespace flotilla::classify {
namespace {

StatusOr<Dataset> Parse(const std::string& bytes, const std::string& name, DataOptions o = {}) {
  return ParseDataset(bytes, name, o);
}

TEST(DatasetTest, CsvQuotesCommasNewlines) {
  auto ds = Parse("id,text,label\r\n1,\"hello, \"\"world\"\"\",greet\n2,\"two\nlines\",multi\n\n3,plain,x\n", "a.csv");
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  ASSERT_EQ(ds->examples.size(), 3u);
  EXPECT_EQ(ds->examples[0].text, "hello, \"world\"");
  EXPECT_EQ(ds->examples[0].label, "greet");
  EXPECT_EQ(ds->examples[1].text, "two\nlines");
  EXPECT_EQ(ds->examples[2].label, "x");
}

TEST(DatasetTest, TsvAndJsonl) {
  DataOptions o;
  o.label_col = "Label";
  o.text_col = "SMS";
  auto tsv = Parse("Label\tSMS\nham\tsay \"hi\"\nspam\tWIN\n", "s.tsv", o);
  ASSERT_TRUE(tsv.ok()) << tsv.status().ToString();
  EXPECT_EQ(tsv->examples[0].text, "say \"hi\"");
  auto jl = Parse("{\"text\": \"a\", \"label\": \"x\"}\n\n{\"text\": \"b\", \"label\": 3}\n", "d.jsonl");
  ASSERT_TRUE(jl.ok()) << jl.status().ToString();
  EXPECT_EQ(jl->examples[1].label, "3");
}

TEST(DatasetTest, ErrorsNameFileLineAndColumn) {
  auto unclosed = Parse("text,label\n\"open,x\n", "u.csv");
  ASSERT_FALSE(unclosed.ok());
  EXPECT_NE(unclosed.status().message().find("u.csv:2:1"), std::string::npos) << unclosed.status().message();
  auto missing = Parse("body,label\na,b\n", "m.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no column \"text\""), std::string::npos);
  EXPECT_NE(missing.status().message().find("body, label"), std::string::npos);
  auto fields = Parse("text,label\na,b,c\n", "f.csv");
  ASSERT_FALSE(fields.ok());
  EXPECT_NE(fields.status().message().find("f.csv:2"), std::string::npos);
  auto badjson = Parse("{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": oops}\n", "b.jsonl");
  ASSERT_FALSE(badjson.ok());
  EXPECT_NE(badjson.status().message().find("b.jsonl:2:"), std::string::npos) << badjson.status().message();
  EXPECT_FALSE(Parse("", "e.csv").ok());
  EXPECT_FALSE(Parse("text,label\n", "h.csv").ok());
  EXPECT_FALSE(Parse("x", "noext").ok());
}

TEST(DatasetTest, EmptyLabelsAndBadUtf8AreWarnings) {
  auto ds = Parse("text,label\na,\nb\xff\xfe,y\nc,z\n", "w.csv");
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  ASSERT_EQ(ds->examples.size(), 2u);
  EXPECT_EQ(ds->examples[0].text, "b\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ds->warnings.size(), 2u);
  std::string overlong = "\xC0\xAF ok \xE2\x82\xAC";
  EXPECT_EQ(SanitizeUtf8(&overlong), 2u);
  EXPECT_EQ(overlong, "\xEF\xBF\xBD\xEF\xBF\xBD ok \xE2\x82\xAC");
}

TEST(FeaturizerTest, SortedUniqueAndCaseInsensitive) {
  Featurizer f({});
  std::vector<uint32_t> a, b, c;
  f.Features("Where is my CARD?", &a);
  f.Features("where is my card ?", &b);
  f.Features("", &c);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(c.empty());
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end());
  for (uint32_t x : a) EXPECT_LT(x, 1u << 22);
  f.Features("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC", &c);  // multi-byte characters do not crash or split
  EXPECT_FALSE(c.empty());
  FeaturizerConfig bad;
  bad.hash_bits = 40;
  EXPECT_FALSE(bad.Validate().ok());
}

TEST(CalibrationTest, TemperatureRecoversScale) {
  // Logits drawn so that softmax(z / 2) is the true distribution: the fit should find T close to 2.
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0, 1);
  const int n = 4000, c = 3;
  std::vector<float> logits(n * c);
  std::vector<int32_t> labels(n);
  std::vector<float> p(c);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < c; ++k) logits[i * c + k] = 4 * noise(rng);
    Softmax(std::span<const float>(logits.data() + i * c, c), 2.0f, p);
    float u = std::uniform_real_distribution<float>(0, 1)(rng), acc = 0;
    labels[i] = c - 1;
    for (int k = 0; k < c; ++k) {
      acc += p[k];
      if (u < acc) {
        labels[i] = k;
        break;
      }
    }
  }
  EXPECT_NEAR(FitTemperature(logits, labels, c), 2.0f, 0.2f);
}

TEST(CalibrationTest, CurvePolicyEceCoverage) {
  const std::vector<float> conf = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f};
  const std::vector<uint8_t> ok = {1, 1, 1, 0, 0};
  EXPECT_DOUBLE_EQ(CoverageAtPrecision(conf, ok, 1.0), 0.6);
  EXPECT_DOUBLE_EQ(CoverageAtPrecision(conf, ok, 0.75), 0.8);
  RiskCurve curve = BuildRiskCurve(conf, ok);
  ASSERT_EQ(curve.confidence.size(), 5u);
  auto p = PolicyFromCurve(curve, AbstainTarget::kPrecision, 1.0);
  ASSERT_TRUE(p.ok());
  EXPECT_FLOAT_EQ(p->threshold, 0.7f);
  auto c = PolicyFromCurve(curve, AbstainTarget::kCoverage, 0.4);
  ASSERT_TRUE(c.ok());
  EXPECT_FLOAT_EQ(c->threshold, 0.8f);
  EXPECT_FALSE(PolicyFromCurve(curve, AbstainTarget::kPrecision, 1.5).ok());
  bool reached = true;
  const std::vector<uint8_t> none = {0, 0, 0, 0, 0};
  ASSERT_TRUE(PolicyFromCurve(BuildRiskCurve(conf, none), AbstainTarget::kPrecision, 0.9, &reached).ok());
  EXPECT_FALSE(reached);
  // Perfectly calibrated bins give zero ECE; always-wrong confident predictions give ECE = confidence.
  EXPECT_NEAR(ExpectedCalibrationError(std::vector<float>{1.0f, 1.0f}, std::vector<uint8_t>{1, 1}), 0.0, 1e-9);
  EXPECT_NEAR(ExpectedCalibrationError(std::vector<float>{0.9f, 0.9f}, std::vector<uint8_t>{0, 0}), 0.9, 1e-6);
}

// Three topics with distinctive words plus shared filler; a fourth "oos" class of random words.
Dataset MakeTopics(int per_class, uint64_t seed) {
  const std::vector<std::vector<std::string>> words = {
      {"card", "arrive", "delivery", "mail", "lost"}, {"weather", "rain", "sunny", "forecast", "cold"},
      {"song", "play", "music", "volume", "album"}};
  const std::vector<std::string> filler = {"please", "can", "you", "tell", "me", "the", "my", "now", "today"};
  std::mt19937_64 rng(seed);
  Dataset ds;
  ds.name = "gen";
  const std::vector<std::string> names = {"card", "weather", "music"};
  for (int i = 0; i < per_class; ++i) {
    for (size_t c = 0; c < words.size(); ++c) {
      std::string text;
      for (int k = 0; k < 5; ++k) {
        const auto& pool = (rng() % 2) ? words[c] : filler;
        text += pool[rng() % pool.size()] + " ";
      }
      ds.examples.push_back({text, names[c]});
    }
  }
  return ds;
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("classify_test_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(TempDir, TrainsCalibratesSavesAndLoads) {
  const Dataset train = MakeTopics(60, 1), test = MakeTopics(20, 2);
  TrainConfig config;
  config.ngram.epochs = 5;
  config.ngram.features.hash_bits = 16;
  auto report = TrainClassifier(train, nullptr, config);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(report->n_calibration, 0);
  const Classifier& m = *report->model;
  EXPECT_EQ(m.labels(), (std::vector<std::string>{"card", "music", "weather"}));
  auto eval = Evaluate(m, test, {});
  ASSERT_TRUE(eval.ok());
  EXPECT_GT(eval->accuracy, 0.95);
  const std::string path = (dir_ / "m.gguf").string();
  ASSERT_TRUE(m.Save(path).ok());
  auto loaded = LoadClassifier(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->architecture(), kNgramArchitecture);
  EXPECT_FLOAT_EQ((*loaded)->temperature(), m.temperature());
  EXPECT_FLOAT_EQ((*loaded)->policy().threshold, m.policy().threshold);
  for (const Example& e : test.examples) {
    const Prediction a = m.Predict(e.text), b = (*loaded)->Predict(e.text);
    EXPECT_EQ(a.label, b.label);
    EXPECT_FLOAT_EQ(a.confidence, b.confidence);
    EXPECT_EQ(a.abstain, b.abstain);
  }
  // The same seed gives the same model.
  auto again = TrainClassifier(train, nullptr, config);
  ASSERT_TRUE(again.ok());
  EXPECT_FLOAT_EQ(again->model->Predict("rain today").confidence, m.Predict("rain today").confidence);
}

TEST(TrainerTest, BadInputs) {
  Dataset one;
  one.name = "one.csv";
  one.examples = {{"a", "x"}, {"b", "x"}};
  auto r = TrainClassifier(one, nullptr, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("only one class"), std::string::npos);
  Dataset train = MakeTopics(10, 3), dev = MakeTopics(3, 4);
  dev.name = "dev.csv";
  dev.examples.push_back({"something new", "unseen"});
  TrainConfig config;
  config.ngram.epochs = 2;
  auto ok = TrainClassifier(train, &dev, config);
  ASSERT_TRUE(ok.ok());
  bool warned = false;
  for (const std::string& w : ok->warnings) warned |= w.find("unseen") != std::string::npos;
  EXPECT_TRUE(warned);
  Dataset test = MakeTopics(2, 5);
  test.examples.push_back({"x", "test-only"});
  auto eval = Evaluate(*ok->model, test, {});
  ASSERT_TRUE(eval.ok());
  ASSERT_EQ(eval->warnings.size(), 1u);
  EXPECT_LT(eval->accuracy, 1.0);
  config.architecture = "no-such-family";
  EXPECT_EQ(TrainClassifier(train, nullptr, config).status().code(), StatusCode::kUnimplemented);
}

TEST_F(TempDir, CorruptModelsAreErrors) {
  TrainConfig config;
  config.ngram.epochs = 1;
  config.ngram.features.hash_bits = 12;
  auto report = TrainClassifier(MakeTopics(10, 1), nullptr, config);
  ASSERT_TRUE(report.ok());
  const std::string good = (dir_ / "good.gguf").string();
  ASSERT_TRUE(report->model->Save(good).ok());
  auto file = gguf::File::Open(good);
  ASSERT_TRUE(file.ok());
  // Each mutation of a valid file must be refused with a message, never crash.
  struct Case {
    const char* what;
    void (*mutate)(gguf::Writer*);
  };
  const Case cases[] = {
      {"architecture", [](gguf::Writer* w) { w->Set("general.architecture", gguf::Value::String("llama")); }},
      {"labels", [](gguf::Writer* w) { w->Set("classify.labels", gguf::Value::StringArray({"a", "a", "b"})); }},
      {"temperature", [](gguf::Writer* w) { w->Set("classify.temperature", gguf::Value::F32(-1)); }},
      {"hash_bits", [](gguf::Writer* w) { w->Set("flotilla-ngram.hash_bits", gguf::Value::I32(99)); }},
      {"char_max", [](gguf::Writer* w) { w->Remove("flotilla-ngram.char_max"); }},
      {"threshold", [](gguf::Writer* w) { w->Set("classify.abstain.threshold", gguf::Value::F32(2)); }},
      {"curve", [](gguf::Writer* w) { w->Set("classify.curve.precision", gguf::Value::F32Array(std::vector<float>{0.5f})); }},
  };
  for (const Case& c : cases) {
    gguf::Writer w = gguf::Writer::FromFile(*file);
    c.mutate(&w);
    const std::string bad = (dir_ / "bad.gguf").string();
    ASSERT_TRUE(w.WriteFile(bad).ok());
    auto loaded = LoadClassifier(bad);
    EXPECT_FALSE(loaded.ok()) << c.what;
    if (!loaded.ok()) {
      EXPECT_NE(loaded.status().message().find("bad.gguf"), std::string::npos) << c.what;
    }
  }
  // Truncated file and a file that is not GGUF at all.
  auto bytes = gguf::Writer::FromFile(*file).WriteToString();
  ASSERT_TRUE(bytes.ok());
  std::string half = bytes->substr(0, bytes->size() / 2);
  ASSERT_TRUE(WriteFileAtomic((dir_ / "half.gguf").string(), half).ok());
  EXPECT_FALSE(LoadClassifier((dir_ / "half.gguf").string()).ok());
  ASSERT_TRUE(WriteFileAtomic((dir_ / "text.gguf").string(), std::string("text,label\n")).ok());
  EXPECT_FALSE(LoadClassifier((dir_ / "text.gguf").string()).ok());
  EXPECT_EQ(LoadClassifier((dir_ / "missing.gguf").string()).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace flotilla::classify
