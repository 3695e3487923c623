#include "route/router.h"

#include <cmath>

#include <gtest/gtest.h>

#include "classify/trainer.h"

namespace flotilla::route {
namespace {

// A small n-gram classifier trained in memory on `rows` (text, label) repeated a few times.
std::unique_ptr<classify::Classifier> Train(const std::vector<std::pair<std::string, std::string>>& rows) {
  classify::Dataset d;
  d.name = "mem";
  for (int rep = 0; rep < 4; ++rep) {
    for (const auto& [text, label] : rows) d.examples.push_back({text, label});
  }
  classify::TrainConfig cfg;
  cfg.holdout = 0;  // no calibration split: temperature 1
  StatusOr<classify::TrainReport> r = classify::TrainClassifier(d, nullptr, cfg);
  CHECK(r.ok());
  return std::move(r->model);
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_ = Train({{"refund my invoice please", "billing"},
                     {"i was charged twice on my card", "billing"},
                     {"tell me a story about a dragon", "story"},
                     {"once upon a time story for kids", "story"}});
    intent_ = Train({{"this is great thanks", "positive"},
                     {"love it wonderful", "positive"},
                     {"terrible awful broken", "negative"},
                     {"worst service ever bad", "negative"}});
    SpecialistConfig gen;
    gen.name = "gen";
    gen.path = "/models/gen.gguf";
    SpecialistConfig sentiment;
    sentiment.name = "sentiment";
    sentiment.kind = SpecialistKind::kClassifier;
    sentiment.path = "/models/sentiment.gguf";
    config_.file = "fleet.toml";
    config_.specialists = {gen, sentiment};
    config_.router.emplace();
    config_.router->path = "/models/router.gguf";
    config_.router->routes = {{"billing", "sentiment"}, {"story", "gen"}};
    config_.upstream.emplace();
    config_.upstream->client.model = "big";
    config_.upstream->input_price_per_million = 1.0;
    config_.upstream->output_price_per_million = 2.0;
  }

  Router Make() {
    StatusOr<Router> r = Router::Create(config_, {{"sentiment", intent_.get()}}, router_.get());
    CHECK(r.ok());
    return std::move(*r);
  }
  SpecialistConfig& Spec(const std::string& name) {
    for (SpecialistConfig& s : config_.specialists) {
      if (s.name == name) return s;
    }
    std::abort();
  }

  std::unique_ptr<classify::Classifier> router_, intent_;
  FleetConfig config_;
};

TEST_F(RouterTest, NamedSpecialists) {
  Router r = Make();
  StatusOr<Decision> d = r.Decide("gen", "anything");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->specialist->name, "gen");
  EXPECT_EQ(d->route, RouteKind::kLocal);
  EXPECT_FALSE(d->confidence.has_value());  // a named generative specialist has nothing to compare
  EXPECT_EQ(d->reason_code, "named");
  d = r.Decide("sentiment", "terrible awful broken");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->label, "negative");
  ASSERT_TRUE(d->confidence.has_value());
  EXPECT_FLOAT_EQ(*d->confidence, d->prediction->confidence);
  EXPECT_EQ(d->route, RouteKind::kLocal);  // no threshold
}

TEST_F(RouterTest, UnknownModelIsNotFoundAndNeverAPath) {
  Router r = Make();
  for (const char* name : {"ghost", "../models/gen.gguf", "/models/gen.gguf", "router", ""}) {
    StatusOr<Decision> d = r.Decide(name, "x");
    ASSERT_FALSE(d.ok()) << name;
    EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
    EXPECT_NE(d.status().message().find("gen, sentiment, auto"), std::string::npos) << d.status().message();
  }
}

TEST_F(RouterTest, AutoUsesRouterLabelAndConfidence) {
  Router r = Make();
  StatusOr<Decision> d = r.Decide("auto", "tell me a story about a dragon");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->router_label, "story");
  EXPECT_EQ(d->specialist->name, "gen");
  ASSERT_TRUE(d->confidence.has_value());
  EXPECT_FLOAT_EQ(*d->confidence, *d->router_confidence);  // generative via auto: the router's confidence
  EXPECT_EQ(d->reason_code, "auto");
  d = r.Decide("auto", "refund my invoice please");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->specialist->name, "sentiment");
  EXPECT_FLOAT_EQ(*d->confidence, d->prediction->confidence);  // a classifier: its own confidence
}

TEST_F(RouterTest, ThresholdEscalates) {
  Spec("gen").threshold = 1.0f;  // 1: always escalate (even a confidence that rounds to 1.0f)
  Router r = Make();
  StatusOr<Decision> d = r.Decide("auto", "tell me a story");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->route, RouteKind::kEscalated);
  EXPECT_EQ(d->reason_code, "router_confidence");
  EXPECT_NE(d->reason.find("escalated to big"), std::string::npos) << d->reason;
  // A named generative specialist has no confidence, so its threshold never applies.
  EXPECT_EQ(r.Decide("gen", "tell me a story")->route, RouteKind::kLocal);
  // Just above the router's confidence escalates, at or below it does not.
  const float c = *d->confidence;
  if (c < 1.0f) {
    Spec("gen").threshold = std::nextafter(c, 2.0f);
    EXPECT_EQ(Make().Decide("auto", "tell me a story")->route, RouteKind::kEscalated);
  }
  Spec("gen").threshold = c;
  EXPECT_EQ(Make().Decide("auto", "tell me a story")->route, c < 1.0f ? RouteKind::kLocal : RouteKind::kEscalated);
  // Threshold 0: nothing is below it.
  Spec("gen").threshold = 0.0f;
  EXPECT_EQ(Make().Decide("auto", "tell me a story")->route, RouteKind::kLocal);
}

TEST_F(RouterTest, WithoutUpstreamTheSpecialistAnswers) {
  Spec("sentiment").threshold = 1.0f;
  config_.upstream.reset();
  StatusOr<Decision> d = Make().Decide("sentiment", "love it");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->route, RouteKind::kLocal);
  EXPECT_NE(d->reason.find("no upstream"), std::string::npos) << d->reason;
}

TEST_F(RouterTest, UpstreamFailureFallsBackOrErrors) {
  Spec("sentiment").threshold = 1.0f;
  Router r = Make();
  StatusOr<Decision> d = r.Decide("sentiment", "love it");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->route, RouteKind::kEscalated);
  EXPECT_EQ(d->reason_code, "classifier_confidence");
  StatusOr<Decision> f = r.AfterUpstreamFailure(*d, UnavailableError("upstream timed out"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->route, RouteKind::kFallback);
  EXPECT_EQ(f->reason_code, "upstream_failed");
  EXPECT_NE(f->reason.find("timed out"), std::string::npos);
  config_.upstream->on_failure = OnFailure::kError;
  StatusOr<Decision> e = Make().AfterUpstreamFailure(*d, UnavailableError("refused"));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(e.status().message().find("refused"), std::string::npos);
}

TEST_F(RouterTest, CreateChecksRoutesAgainstRouterLabels) {
  config_.router->routes = {{"billing", "sentiment"}};  // "story" has no route, no default
  StatusOr<Router> r = Router::Create(config_, {{"sentiment", intent_.get()}}, router_.get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("label 'story' has no route"), std::string::npos);
  config_.router->default_specialist = "gen";
  EXPECT_TRUE(Router::Create(config_, {{"sentiment", intent_.get()}}, router_.get()).ok());
  config_.router->routes["nonlabel"] = "gen";
  r = Router::Create(config_, {{"sentiment", intent_.get()}}, router_.get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'nonlabel' is not a label"), std::string::npos);
  EXPECT_FALSE(Router::Create(config_, {}, router_.get()).ok());  // the classifier specialist is missing
}

TEST_F(RouterTest, AutoWithoutRouter) {
  config_.router.reset();
  StatusOr<Router> r = Router::Create(config_, {{"sentiment", intent_.get()}}, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Decide("auto", "x").status().code(), StatusCode::kInvalidArgument);
}

TEST(RoutingTextTest, LastUserMessage) {
  EXPECT_EQ(RoutingText({{"system", "s"}, {"user", "a"}, {"assistant", "b"}, {"user", "c"}}), "c");
  EXPECT_EQ(RoutingText({{"system", "s"}}), "");
}

TEST(CostTest, EscalatedLocalAndSavings) {
  FleetConfig c;
  c.local_price_per_million = 0.5;
  c.upstream.emplace();
  c.upstream->input_price_per_million = 1.0;
  c.upstream->output_price_per_million = 3.0;
  Cost up = EstimateCost(c, RouteKind::kEscalated, 1000, 2000);
  EXPECT_DOUBLE_EQ(up.actual_usd, (1000 * 1.0 + 2000 * 3.0) / 1e6);
  EXPECT_DOUBLE_EQ(up.savings_usd(), 0);
  Cost local = EstimateCost(c, RouteKind::kLocal, 1000, 2000);
  EXPECT_DOUBLE_EQ(local.actual_usd, 3000 * 0.5 / 1e6);
  EXPECT_DOUBLE_EQ(local.savings_usd(), (7000 - 1500) / 1e6);
  c.upstream.reset();
  EXPECT_DOUBLE_EQ(EstimateCost(c, RouteKind::kLocal, 1000, 2000).savings_usd(), 0);
  EXPECT_EQ(EstimateTokens(""), 0);
  EXPECT_EQ(EstimateTokens("abcde"), 2);
}

TEST(UpstreamErrorKindTest, Kinds) {
  EXPECT_EQ(UpstreamErrorKind(UnavailableError("upstream u timed out after 300 ms")), "timeout");
  EXPECT_EQ(UpstreamErrorKind(UnavailableError("upstream u answered HTTP 503: busy")), "http_5xx");
  EXPECT_EQ(UpstreamErrorKind(InvalidArgumentError("upstream u answered HTTP 400: bad")), "http_4xx");
  EXPECT_EQ(UpstreamErrorKind(DataLossError("upstream reply is not JSON")), "malformed");
  EXPECT_EQ(UpstreamErrorKind(UnavailableError("upstream u failed: Connection refused")), "connect");
}

}  // namespace
}  // namespace flotilla::route
