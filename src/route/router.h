// Routing policy: which specialist answers a request, and whether the upstream large model is asked
// instead. Pure logic over the fleet config and loaded classifiers; no HTTP, no generation.
//
//   model = a specialist's name -> that specialist.
//   model = "auto"              -> the router classifier labels the text (the last user message);
//                                  routes[label] (or the default) is the specialist.
//
// What the threshold compares (the "confidence" of a decision):
//   - a classifier specialist: its own calibrated confidence in the label it predicts for the text
//     (classify::Prediction::confidence), whether it was named or chosen by "auto";
//   - a generative specialist chosen by "auto": the router's calibrated confidence in its label;
//   - a generative specialist named directly: none (there is nothing calibrated to compare), so it
//     never escalates.
// A decision escalates when there is a confidence, the specialist has a threshold and
// confidence < threshold, or the threshold is 1 (always ask the upstream: a calibrated probability
// can round to exactly 1). Without an upstream the specialist answers anyway (reason says so).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "flotilla/status.h"
#include "route/fleet_config.h"
#include "route/upstream.h"

namespace flotilla::route {

// Who answered: the chosen specialist (local), the upstream (escalated), or the specialist after the
// upstream failed (fallback).
enum class RouteKind { kLocal, kEscalated, kFallback };
std::string_view RouteName(RouteKind kind);  // "local", "escalated", "fallback"

struct Decision {
  const SpecialistConfig* specialist = nullptr;  // never null in a returned decision
  RouteKind route = RouteKind::kLocal;           // kEscalated: ask the upstream
  std::optional<float> confidence;               // what the threshold compares (see above)
  std::optional<float> threshold;                // the specialist's, when it has one
  std::string reason;                            // one line for people
  // Low-cardinality reason code for metrics: "named", "auto", "router_confidence" / "classifier_confidence"
  // (escalated: that confidence was under the threshold), "upstream_failed" (a fallback).
  std::string reason_code;
  std::string router_label;                      // "auto": the router's label
  std::optional<float> router_confidence;        // "auto": the router's calibrated confidence
  std::optional<classify::Prediction> prediction;  // a classifier specialist's prediction
  std::string label;                             // ... and its label name
};

class Router {
 public:
  // `classifiers` maps every classifier specialist's name to its loaded model; `router` is the loaded
  // [router] classifier (null when the config has none). All must outlive the Router.
  // INVALID_ARGUMENT when a classifier is missing, or a router label has no route and there is no default.
  static StatusOr<Router> Create(const FleetConfig& config,
                                 std::map<std::string, const classify::Classifier*> classifiers,
                                 const classify::Classifier* router);

  // Decides for a request naming `model`, whose routing text is `text`. NOT_FOUND for a name that is
  // no specialist (the message lists the names); INVALID_ARGUMENT for "auto" without a router.
  StatusOr<Decision> Decide(std::string_view model, std::string_view text) const;

  // After the upstream failed with `error` on an escalated decision: the same specialist marked as a
  // fallback (on_failure = "fallback"), or UNAVAILABLE naming the upstream error (-> HTTP 502).
  StatusOr<Decision> AfterUpstreamFailure(Decision decision, const Status& error) const;

  bool has_upstream() const { return config_->upstream.has_value(); }
  const FleetConfig& config() const { return *config_; }
  const classify::Classifier* router_classifier() const { return router_; }
  // The classifier of a classifier specialist, or the router when `name` is the router's name; else null.
  const classify::Classifier* FindClassifier(std::string_view name) const;

 private:
  Router() = default;
  const FleetConfig* config_ = nullptr;
  std::map<std::string, const classify::Classifier*, std::less<>> classifiers_;
  const classify::Classifier* router_ = nullptr;
};

// The last message with role "user" (the routing text), or "" when there is none.
std::string RoutingText(const std::vector<ChatMessage>& messages);

// Estimated cost of one answered request, in USD. `tokens_*` are the answering model's counts.
struct Cost {
  double actual_usd = 0;    // upstream tokens x upstream prices, local tokens x local price
  double upstream_usd = 0;  // what the same tokens would cost at the upstream's prices (0: no upstream)
  double savings_usd() const { return upstream_usd > 0 ? upstream_usd - actual_usd : 0; }
};
Cost EstimateCost(const FleetConfig& config, RouteKind route, int64_t prompt_tokens, int64_t completion_tokens);

// Tokens of a text without a tokenizer (classifier specialists): bytes / 4, rounded up, as the usual
// rule of thumb for English with BPE vocabularies.
int64_t EstimateTokens(std::string_view text);

// The kind of an upstream failure, for metrics: "timeout", "connect", "http_4xx", "http_5xx",
// "malformed" (from UpstreamClient::Chat's status).
std::string UpstreamErrorKind(const Status& error);

}  // namespace flotilla::route
