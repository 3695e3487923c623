// The flotilla binary end to end: init -> inspect -> tokenize, and one-line errors on bad input.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("flotilla_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "corpus.txt") << "the boat and the harbor and the boat and the sea. " 
                                          "the boats know the way, the boats ask when unsure.\n";
    Result r = Run("init --preset stories260k --random --vocab-text " + (dir_ / "corpus.txt").string() + " " +
                   Model());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string Model() { return (dir_ / "model.gguf").string(); }

  static Result Run(const std::string& args) {
    fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    std::string cmd = std::string(FLOTILLA_BIN) + " " + args + " >" + out.string() + " 2>" + err.string();
    int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadAll(out), ReadAll(err)};
  }

  static fs::path dir_;
};
fs::path CliTest::dir_;

TEST_F(CliTest, InspectJsonListsMetadataAndTensors) {
  Result r = Run("inspect --json " + Model());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["metadata"]["general.architecture"], "llama");
  EXPECT_EQ(j["metadata"]["llama.block_count"], 5);
  // token_embd + 5 layers x 9 + output_norm + output
  ASSERT_EQ(j["tensors"].size(), 1u + 5 * 9 + 2);
  EXPECT_EQ(j["tensors"][0]["name"], "token_embd.weight");
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json({64, 512}));
  EXPECT_EQ(j["tensors"][0]["bytes"], 64 * 512 * 4);
}

TEST_F(CliTest, InspectTextShowsTensorTable) {
  Result r = Run("inspect " + Model());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("blk.4.ffn_down.weight"), std::string::npos);
  EXPECT_NE(r.out.find("tokenizer.ggml.tokens"), std::string::npos);
}

TEST_F(CliTest, TokenizeJsonAddsBosAndRoundTrips) {
  Result r = Run("tokenize --json -m " + Model() + " -p 'the boat knows the way'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_GE(j["ids"].size(), 2u);
  EXPECT_EQ(j["ids"][0], 1);  // <s>
  std::string text;
  for (size_t i = 1; i < j["pieces"].size(); ++i) text += j["pieces"][i].get<std::string>();
  EXPECT_EQ(text, " the boat knows the way");  // pieces render U+2581 as a space, as llama.cpp's do
}

TEST_F(CliTest, TokenizeFlagsTurnOffBosAndSpecialParsing) {
  Result with = Run("tokenize --ids -m " + Model() + " -p '<s>the'");
  Result without = Run("tokenize --ids --no-bos --no-parse-special -m " + Model() + " -p '<s>the'");
  ASSERT_EQ(with.exit_code, 0) << with.err;
  ASSERT_EQ(without.exit_code, 0) << without.err;
  EXPECT_EQ(with.out.rfind("[1, 1,", 0), 0u) << with.out;  // BOS, then <s> parsed as the special token
  EXPECT_EQ(without.out.find("1,"), std::string::npos) << without.out;
}

TEST_F(CliTest, TokenizeReadsFileByteForByte) {
  std::ofstream(dir_ / "text.bin", std::ios::binary) << std::string("the\xff\n\0boat", 10);
  Result r = Run("tokenize --json --no-bos -m " + Model() + " -f " + (dir_ / "text.bin").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["ids"].size(), 4u);
}

TEST_F(CliTest, ErrorsAreOneLineWithNonZeroExit) {
  std::ofstream(dir_ / "bad.gguf") << "GGUX not a model";
  const std::string cases[] = {
      "inspect " + (dir_ / "missing.gguf").string(),
      "inspect " + (dir_ / "bad.gguf").string(),
      "tokenize -m " + (dir_ / "bad.gguf").string() + " -p hi",
      "tokenize -m " + Model() + " -p hi -f " + (dir_ / "text.bin").string(),
      "tokenize -m " + Model() + " -f " + (dir_ / "missing.txt").string(),
      "init --preset nope --random " + (dir_ / "x.gguf").string(),
      "init --preset stories260k " + (dir_ / "x.gguf").string(),
      "init --arch gpt9 --preset stories260k --random " + (dir_ / "x.gguf").string(),
      "init --preset stories260k --random -t -1 " + (dir_ / "x.gguf").string(),
      "quantize " + Model() + " " + (dir_ / "x.gguf").string() + " q8_0 -t -2",
  };
  for (const std::string& args : cases) {
    Result r = Run(args);
    EXPECT_EQ(r.exit_code, 1) << args;
    ASSERT_FALSE(r.err.empty()) << args;
    EXPECT_EQ(r.err.rfind("flotilla: ", 0), 0u) << args << " -> " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << args << " -> " << r.err;
  }
  EXPECT_FALSE(fs::exists(dir_ / "x.gguf"));
}

TEST_F(CliTest, BenchPrintsARowPerTestAndThreadCount) {
  Result r = Run("bench -m " + Model() + " -p 16 -n 8 -t 1,2 -r 2 --no-limits");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* test : {"| 1 | pp16 |", "| 2 | pp16 |", "| 1 | tg8 |", "| 2 | tg8 |"}) {
    EXPECT_NE(r.out.find(test), std::string::npos) << test << " in\n" << r.out;
  }
  EXPECT_EQ(r.out.find("inf"), std::string::npos) << r.out;  // no fraction of an unmeasured limit

  r = Run("bench --json -m " + Model() + " -p 16 -n 0 -t 1 -r 3 --no-limits");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["n_prompt"], 16);
  EXPECT_EQ(j[0]["samples_ts"].size(), 3u);
  EXPECT_GT(j[0]["avg_ts"].get<double>(), 0.0);
  EXPECT_GT(j[0]["gops"].get<double>(), 0.0);

  // Only the last prompt token's logits are computed, so the output head's flops are spread over
  // the prompt: a longer prompt does fewer flops per token.
  r = Run("bench --json -m " + Model() + " -p 8,64 -n 0 -t 1 -r 1 --no-limits");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  const auto flops_per_token = [](const nlohmann::json& row) {
    return row["gops"].get<double>() / row["avg_ts"].get<double>();
  };
  EXPECT_GT(flops_per_token(j[0]), 1.01 * flops_per_token(j[1]));

  // With limits: a tg row carries the read bandwidth measured alongside its runs, and its fraction,
  // at one thread and at two (the best of two threads and one).
  r = Run("bench --json -m " + Model() + " -p 0 -n 4 -t 1,2 -r 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  for (const auto& row : j) {
    EXPECT_GT(row["machine_read_gbs"].get<double>(), 0.0);
    EXPECT_GT(row["bw_fraction"].get<double>(), 0.0);
  }

  r = Run("bench -m " + Model() + " -r 0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("-r must be at least 1"), std::string::npos) << r.err;
}

TEST_F(CliTest, UnknownFlagIsAUsageError) {
  Result r = Run("inspect --frobnicate " + Model());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos);
}

}  // namespace

namespace {

TEST(CliHelp, EveryCommandPrintsHelp) {
  for (std::string cmd : {"", "inspect", "tokenize", "init", "run", "chat", "perplexity", "quantize", "pull",
                          "vocab import", "bench"}) {
    std::string line = std::string(FLOTILLA_BIN) + " " + cmd + " --help >/dev/null 2>&1";
    EXPECT_EQ(std::system(line.c_str()), 0) << cmd;
  }
}

}  // namespace
