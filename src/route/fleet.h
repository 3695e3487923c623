// A loaded fleet: the config, its classifiers (specialists and router), the Router over them and the
// upstream client. Generative specialists are loaded by the server (they need schedulers); this
// layer only names their files.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "classify/classifier.h"
#include "flotilla/status.h"
#include "route/fleet_config.h"
#include "route/router.h"
#include "route/upstream.h"

namespace flotilla::route {

class Fleet {
 public:
  // Loads every classifier the config names; errors name the file.
  static StatusOr<std::unique_ptr<Fleet>> Load(FleetConfig config);

  const FleetConfig& config() const { return config_; }
  const Router& router() const { return *router_; }
  // Null without an [upstream].
  const UpstreamClient* upstream() const { return upstream_ ? &*upstream_ : nullptr; }

 private:
  Fleet() = default;
  FleetConfig config_;
  std::map<std::string, std::unique_ptr<classify::Classifier>> classifiers_;
  std::unique_ptr<classify::Classifier> router_classifier_;
  std::optional<Router> router_;
  std::optional<UpstreamClient> upstream_;
};

}  // namespace flotilla::route
