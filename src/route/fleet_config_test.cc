#include "route/fleet_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace flotilla::route {
namespace {

namespace fs = std::filesystem;

// A directory with empty model files (the parser checks existence only) and a fleet file path in it.
class FleetConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fleet_config_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "models");
    for (const char* f : {"models/gen.gguf", "models/intent.gguf", "models/router.gguf"}) {
      std::ofstream(dir_ / f) << "x";
    }
    file_ = (dir_ / "fleet.toml").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  StatusOr<FleetConfig> Parse(const std::string& text) { return ParseFleetConfig(text, file_, env_); }
  // The error message of parsing `text` (fails the test when it parses).
  std::string ErrorOf(const std::string& text) {
    StatusOr<FleetConfig> c = Parse(text);
    EXPECT_FALSE(c.ok()) << text;
    return c.ok() ? "" : c.status().message();
  }

  fs::path dir_;
  std::string file_;
  EnvLookup env_ = [](const std::string& name) -> std::optional<std::string> {
    if (name == "TEST_KEY") return std::string("sk-123");
    return std::nullopt;
  };
};

constexpr const char* kGood = R"toml(
log = "logs/requests.sqlite"
local_price_per_million = 0.01

[[specialist]]
name = "gen"
model = "models/gen.gguf"
context = 256
parallel = 2

[[specialist]]
name = "intent"
kind = "classifier"
model = "models/intent.gguf"
threshold = 0.7

[router]
model = "models/router.gguf"
default = "gen"
[router.routes]
billing = "intent"
chat = "gen"

[upstream]
base_url = "http://127.0.0.1:9/v1"
model = "big"
api_key_env = "TEST_KEY"
input_price_per_million = 0.15
output_price_per_million = 0.6
timeout_seconds = 2.5
on_failure = "error"
)toml";

TEST_F(FleetConfigTest, GoodConfig) {
  StatusOr<FleetConfig> c = Parse(kGood);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->specialists.size(), 2u);
  const SpecialistConfig& gen = c->specialists[0];
  EXPECT_EQ(gen.name, "gen");
  EXPECT_EQ(gen.kind, SpecialistKind::kGenerative);
  EXPECT_EQ(gen.path, (dir_ / "models/gen.gguf").string());
  EXPECT_EQ(gen.context, 256);
  EXPECT_EQ(gen.parallel, 2);
  EXPECT_FALSE(gen.threshold.has_value());
  const SpecialistConfig* intent = c->Find("intent");
  ASSERT_NE(intent, nullptr);
  EXPECT_EQ(intent->kind, SpecialistKind::kClassifier);
  EXPECT_FLOAT_EQ(*intent->threshold, 0.7f);
  ASSERT_TRUE(c->router.has_value());
  EXPECT_EQ(c->router->name, "router");
  EXPECT_EQ(c->router->routes.at("billing"), "intent");
  EXPECT_EQ(c->router->default_specialist, "gen");
  ASSERT_TRUE(c->upstream.has_value());
  EXPECT_EQ(c->upstream->client.api_key, "sk-123");
  EXPECT_EQ(c->upstream->client.model, "big");
  EXPECT_DOUBLE_EQ(c->upstream->client.timeout_seconds, 2.5);
  EXPECT_DOUBLE_EQ(c->upstream->output_price_per_million, 0.6);
  EXPECT_EQ(c->upstream->on_failure, OnFailure::kError);
  EXPECT_EQ(c->log_path, (dir_ / "logs/requests.sqlite").string());
  EXPECT_DOUBLE_EQ(c->local_price_per_million, 0.01);
}

TEST_F(FleetConfigTest, MinimalConfigDefaults) {
  StatusOr<FleetConfig> c = Parse("[[specialist]]\nname = \"gen\"\nmodel = \"models/gen.gguf\"\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->router.has_value());
  EXPECT_FALSE(c->upstream.has_value());
  EXPECT_EQ(c->log_path, (dir_ / "requests.sqlite").string());
  EXPECT_EQ(c->specialists[0].parallel, 1);
  // Inline routes and the fallback default of on_failure.
  c = Parse(std::string("[[specialist]]\nname = \"gen\"\nmodel = \"models/gen.gguf\"\n") +
            "[router]\nmodel = \"models/router.gguf\"\nroutes = { a = \"gen\" }\n" +
            "[upstream]\nbase_url = \"https://x/v1\"\nmodel = \"m\"\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->router->routes.at("a"), "gen");
  EXPECT_EQ(c->upstream->on_failure, OnFailure::kFallback);
  EXPECT_TRUE(c->upstream->client.api_key.empty());
}

TEST_F(FleetConfigTest, SyntaxErrorHasLineAndColumn) {
  std::string e = ErrorOf("[[specialist]]\nname = \"gen\nmodel = 1\n");
  EXPECT_EQ(e.rfind(file_ + ":2:", 0), 0u) << e;
}

TEST_F(FleetConfigTest, UnknownKeysAreErrors) {
  std::string e = ErrorOf("[[specialist]]\nname = \"gen\"\nmodel = \"models/gen.gguf\"\nthresold = 0.5\n");
  EXPECT_NE(e.find(":4:1: unknown key 'thresold' in [[specialist]]"), std::string::npos) << e;
  e = ErrorOf("colour = 1\n[[specialist]]\nname = \"gen\"\nmodel = \"models/gen.gguf\"\n");
  EXPECT_NE(e.find("unknown key 'colour'"), std::string::npos) << e;
  e = ErrorOf(std::string("[[specialist]]\nname = \"gen\"\nmodel = \"models/gen.gguf\"\n") +
              "[upstream]\nbase_url = \"http://x\"\nmodel = \"m\"\nprice = 3\n");
  EXPECT_NE(e.find("unknown key 'price' in [upstream]"), std::string::npos) << e;
}

TEST_F(FleetConfigTest, MissingFilesAndFields) {
  std::string e = ErrorOf("[[specialist]]\nname = \"gen\"\nmodel = \"models/nope.gguf\"\n");
  EXPECT_NE(e.find("no model file"), std::string::npos) << e;
  EXPECT_NE(e.find("nope.gguf"), std::string::npos) << e;
  e = ErrorOf("[[specialist]]\nname = \"gen\"\n");
  EXPECT_NE(e.find("needs 'model'"), std::string::npos) << e;
  e = ErrorOf("log = \"x.sqlite\"\n");
  EXPECT_NE(e.find("at least one [[specialist]]"), std::string::npos) << e;
  e = ErrorOf("[[specialist]]\nname = \"gen\"\nmodel = \"models/gen.gguf\"\n[upstream]\nmodel = \"m\"\n");
  EXPECT_NE(e.find("needs 'base_url'"), std::string::npos) << e;
}

TEST_F(FleetConfigTest, DuplicateNamesAndUnknownRoutes) {
  const std::string two = "[[specialist]]\nname = \"gen\"\nmodel = \"models/gen.gguf\"\n"
                          "[[specialist]]\nname = \"gen\"\nmodel = \"models/intent.gguf\"\n";
  std::string e = ErrorOf(two);
  EXPECT_NE(e.find("two specialists are named 'gen'"), std::string::npos) << e;
  EXPECT_NE(e.find(":5:"), std::string::npos) << e;
  const std::string one = "[[specialist]]\nname = \"gen\"\nmodel = \"models/gen.gguf\"\n";
  e = ErrorOf(one + "[router]\nmodel = \"models/router.gguf\"\nroutes = { billing = \"ghost\" }\n");
  EXPECT_NE(e.find("route 'billing' goes to an unknown specialist 'ghost'"), std::string::npos) << e;
  e = ErrorOf(one + "[router]\nmodel = \"models/router.gguf\"\ndefault = \"ghost\"\n");
  EXPECT_NE(e.find("unknown specialist 'ghost'"), std::string::npos) << e;
  e = ErrorOf(one + "[router]\nname = \"gen\"\nmodel = \"models/router.gguf\"\ndefault = \"gen\"\n");
  EXPECT_NE(e.find("like a specialist"), std::string::npos) << e;
  e = ErrorOf(one + "[router]\nmodel = \"models/router.gguf\"\n");
  EXPECT_NE(e.find("needs routes"), std::string::npos) << e;
}

TEST_F(FleetConfigTest, BadValues) {
  const std::string head = "[[specialist]]\nname = \"gen\"\nmodel = \"models/gen.gguf\"\n";
  EXPECT_NE(ErrorOf(head + "threshold = 1.5\n").find("must be in [0, 1]"), std::string::npos);
  EXPECT_NE(ErrorOf(head + "threshold = \"high\"\n").find("must be a number"), std::string::npos);
  EXPECT_NE(ErrorOf(head + "kind = \"oracle\"\n").find("kind must be"), std::string::npos);
  EXPECT_NE(ErrorOf(head + "parallel = 0\n").find("parallel must be in [1,"), std::string::npos);
  EXPECT_NE(ErrorOf("[[specialist]]\nname = \"intent\"\nkind = \"classifier\"\nmodel = \"models/intent.gguf\"\n"
                    "context = 64\n")
                .find("generative specialists only"),
            std::string::npos);
  for (const char* bad : {"auto", "../etc/passwd", "a b", ""}) {
    std::string e = ErrorOf(std::string("[[specialist]]\nname = \"") + bad + "\"\nmodel = \"models/gen.gguf\"\n");
    EXPECT_NE(e.find("must be 1-64 of"), std::string::npos) << bad << ": " << e;
  }
  const std::string up = head + "[upstream]\nbase_url = \"http://x/v1\"\nmodel = \"m\"\n";
  EXPECT_NE(ErrorOf(up + "on_failure = \"retry\"\n").find("on_failure must be"), std::string::npos);
  EXPECT_NE(ErrorOf(up + "api_key_env = \"NOT_SET_ANYWHERE\"\n").find("NOT_SET_ANYWHERE, which is not set"),
            std::string::npos);
  EXPECT_NE(ErrorOf(up + "timeout_seconds = 0\n").find("timeout_seconds must be in"), std::string::npos);
  EXPECT_NE(ErrorOf(head + "[upstream]\nbase_url = \"ftp://x\"\nmodel = \"m\"\n").find("http:// or https://"),
            std::string::npos);
  EXPECT_NE(ErrorOf(head + "router = 3\n").find("unknown key 'router' in [[specialist]]"), std::string::npos);
  EXPECT_NE(ErrorOf("router = 3\n" + head).find("router must be a table"), std::string::npos);
}

TEST_F(FleetConfigTest, LoadFromFile) {
  EXPECT_EQ(LoadFleetConfig((dir_ / "absent.toml").string(), env_).status().code(), StatusCode::kNotFound);
  std::ofstream(file_) << kGood;
  StatusOr<FleetConfig> c = LoadFleetConfig(file_, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->file, file_);
}

TEST(ModelNameTest, Valid) {
  EXPECT_TRUE(IsValidModelName("stories260K"));
  EXPECT_TRUE(IsValidModelName("a.b_c-d"));
  EXPECT_FALSE(IsValidModelName("auto"));
  EXPECT_FALSE(IsValidModelName(".."));
  EXPECT_FALSE(IsValidModelName("a/b"));
  EXPECT_FALSE(IsValidModelName(std::string(65, 'a')));
}

}  // namespace
}  // namespace flotilla::route
