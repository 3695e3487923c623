#include "route/router.h"

#include <cstdio>
#include <utility>

namespace flotilla::route {
namespace {

std::string Fixed(float v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(v));
  return buf;
}

}  // namespace

std::string_view RouteName(RouteKind kind) {
  switch (kind) {
    case RouteKind::kEscalated: return "escalated";
    case RouteKind::kFallback: return "fallback";
    default: return "local";
  }
}

StatusOr<Router> Router::Create(const FleetConfig& config,
                                std::map<std::string, const classify::Classifier*> classifiers,
                                const classify::Classifier* router) {
  Router r;
  r.config_ = &config;
  for (const SpecialistConfig& s : config.specialists) {
    if (s.kind != SpecialistKind::kClassifier) continue;
    auto it = classifiers.find(s.name);
    if (it == classifiers.end() || !it->second) {
      return InvalidArgumentError("the classifier specialist '" + s.name + "' is not loaded");
    }
    r.classifiers_[s.name] = it->second;
  }
  if (config.router) {
    if (!router) return InvalidArgumentError("the router classifier is not loaded");
    for (const std::string& label : router->labels()) {
      if (!config.router->routes.count(label) && config.router->default_specialist.empty()) {
        return InvalidArgumentError(config.file + ": the router's label '" + label +
                                    "' has no route and [router] has no default");
      }
    }
    for (const auto& [label, target] : config.router->routes) {
      if (router->LabelIndex(label) < 0) {
        return InvalidArgumentError(config.file + ": route '" + label + "' is not a label of the router " +
                                    config.router->path);
      }
    }
    r.router_ = router;
  }
  return r;
}

const classify::Classifier* Router::FindClassifier(std::string_view name) const {
  auto it = classifiers_.find(name);
  if (it != classifiers_.end()) return it->second;
  if (router_ && config_->router && config_->router->name == name) return router_;
  return nullptr;
}

StatusOr<Decision> Router::Decide(std::string_view model, std::string_view text) const {
  Decision d;
  if (model == "auto") {
    if (!router_) {
      return InvalidArgumentError("model 'auto' needs a [router] in the fleet file; name a specialist instead");
    }
    classify::Prediction p = router_->Predict(text);
    d.router_label = router_->labels()[static_cast<size_t>(p.label)];
    d.router_confidence = p.confidence;
    auto it = config_->router->routes.find(d.router_label);
    const std::string& target = it != config_->router->routes.end() ? it->second : config_->router->default_specialist;
    d.specialist = config_->Find(target);
    CHECK(d.specialist != nullptr);  // Create and the config checked every route
    d.reason_code = "auto";
    d.reason = "router label '" + d.router_label + "' (confidence " + Fixed(p.confidence) + ") -> " + target;
    if (d.specialist->kind == SpecialistKind::kGenerative) d.confidence = p.confidence;
  } else {
    d.specialist = config_->Find(model);
    if (!d.specialist) {
      std::string names;
      for (const SpecialistConfig& s : config_->specialists) names += (names.empty() ? "" : ", ") + s.name;
      if (router_) names += ", auto";
      return NotFoundError("the model '" + std::string(model) + "' does not exist; this server has: " + names);
    }
    d.reason_code = "named";
    d.reason = "the request named " + d.specialist->name;
  }
  if (d.specialist->kind == SpecialistKind::kClassifier) {
    const classify::Classifier* c = classifiers_.at(d.specialist->name);
    d.prediction = c->Predict(text);
    d.label = c->labels()[static_cast<size_t>(d.prediction->label)];
    d.confidence = d.prediction->confidence;
    d.reason += "; label '" + d.label + "'";
  }
  d.threshold = d.specialist->threshold;
  // threshold 1 escalates everything with a confidence: a calibrated probability may round to 1.0f.
  if (d.confidence && d.threshold && (*d.confidence < *d.threshold || *d.threshold >= 1.0f)) {
    const std::string under = "confidence " + Fixed(*d.confidence) + (*d.confidence < *d.threshold ? " < " : " and ") +
                              "threshold " + Fixed(*d.threshold);
    if (config_->upstream) {
      d.route = RouteKind::kEscalated;
      d.reason_code = d.specialist->kind == SpecialistKind::kClassifier ? "classifier_confidence" : "router_confidence";
      d.reason += "; " + under + ": escalated to " + config_->upstream->client.model;
    } else {
      d.reason += "; " + under + " but the fleet has no upstream";
    }
  }
  return d;
}

StatusOr<Decision> Router::AfterUpstreamFailure(Decision decision, const Status& error) const {
  const std::string upstream = config_->upstream ? config_->upstream->client.model : "the upstream";
  if (!config_->upstream || config_->upstream->on_failure == OnFailure::kError) {
    return UnavailableError("the upstream model " + upstream + " failed: " + error.message());
  }
  decision.route = RouteKind::kFallback;
  decision.reason_code = "upstream_failed";
  decision.reason += "; the upstream failed (" + error.message() + "): " + decision.specialist->name + " answered";
  return decision;
}

std::string RoutingText(const std::vector<ChatMessage>& messages) {
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role == "user") return it->content;
  }
  return "";
}

Cost EstimateCost(const FleetConfig& config, RouteKind route, int64_t prompt_tokens, int64_t completion_tokens) {
  Cost c;
  const double p = static_cast<double>(prompt_tokens), q = static_cast<double>(completion_tokens);
  if (config.upstream) {
    c.upstream_usd = (p * config.upstream->input_price_per_million + q * config.upstream->output_price_per_million) / 1e6;
  }
  c.actual_usd = route == RouteKind::kEscalated ? c.upstream_usd : (p + q) * config.local_price_per_million / 1e6;
  return c;
}

int64_t EstimateTokens(std::string_view text) { return static_cast<int64_t>((text.size() + 3) / 4); }

std::string UpstreamErrorKind(const Status& error) {
  const std::string& m = error.message();
  if (error.code() == StatusCode::kDataLoss) return "malformed";
  if (m.find("timed out") != std::string::npos) return "timeout";
  size_t http = m.find("answered HTTP ");
  if (http != std::string::npos && http + 14 < m.size()) return m[http + 14] == '5' ? "http_5xx" : "http_4xx";
  return "connect";
}

}  // namespace flotilla::route
