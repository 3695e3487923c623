#include "route/fleet.h"

namespace flotilla::route {

StatusOr<std::unique_ptr<Fleet>> Fleet::Load(FleetConfig config) {
  std::unique_ptr<Fleet> f(new Fleet());
  f->config_ = std::move(config);
  std::map<std::string, const classify::Classifier*> views;
  for (const SpecialistConfig& s : f->config_.specialists) {
    if (s.kind != SpecialistKind::kClassifier) continue;
    StatusOr<std::unique_ptr<classify::Classifier>> c = classify::LoadClassifier(s.path);
    if (!c.ok()) return c.status().WithContext("specialist '" + s.name + "'");
    views[s.name] = c->get();
    f->classifiers_[s.name] = std::move(*c);
  }
  if (f->config_.router) {
    StatusOr<std::unique_ptr<classify::Classifier>> c = classify::LoadClassifier(f->config_.router->path);
    if (!c.ok()) return c.status().WithContext("router");
    f->router_classifier_ = std::move(*c);
  }
  ASSIGN_OR_RETURN(Router r, Router::Create(f->config_, std::move(views), f->router_classifier_.get()));
  f->router_.emplace(std::move(r));
  if (f->config_.upstream) f->upstream_.emplace(f->config_.upstream->client);
  return f;
}

}  // namespace flotilla::route
