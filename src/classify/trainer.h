// Training any classifier family end to end: labels from the data, a calibration split (the dev set,
// or a stratified part of train held out and then trained on again), temperature scaling, the risk-
// coverage curve and the default abstain policy.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "classify/calibration.h"
#include "classify/classifier.h"
#include "classify/dataset.h"
#include "classify/ngram.h"

namespace flotilla::classify {

// Trains a family built outside this layer (the transformer: train/classifier_trainer.h) on texts with
// label indices into names.
using FamilyTrainer = std::function<StatusOr<std::unique_ptr<Classifier>>(
    const std::vector<std::string_view>& texts, const std::vector<int32_t>& labels,
    const std::vector<std::string>& names, uint64_t seed)>;

struct TrainConfig {
  std::string architecture = std::string(kNgramArchitecture);
  NgramConfig ngram;            // settings of the flotilla-ngram family
  FamilyTrainer family;         // when set, trains `architecture` instead of the n-gram trainer
  uint64_t seed = 1;
  // Without a dev set: this fraction of each class is held out for calibration, then the model is
  // trained again on all of train with the fitted temperature. 0 disables calibration.
  double holdout = 0.1;
  // After calibrating on a held-out part, train again on all of train (false: keep the model fitted
  // without the held-out part, for families whose training is slow).
  bool retrain_on_all = true;
  // Default: answer the 95% of inputs the model is most sure of (threshold set on the calibration
  // split), hand on the rest. The same default for every dataset.
  AbstainTarget target = AbstainTarget::kCoverage;
  double target_value = 0.95;
  bool verbose = false;         // per-epoch loss on stderr
};

struct TrainReport {
  std::unique_ptr<Classifier> model;
  std::vector<std::string> warnings;
  double seconds = 0;               // wall time of everything above
  int64_t n_train = 0;
  int64_t n_calibration = 0;
  double calibration_accuracy = 0;  // of the model the temperature was fitted for
  bool target_reached = true;       // false: no threshold meets a precision target on the calibration split
};

// Errors: an unknown architecture, fewer than two classes, bad settings.
StatusOr<TrainReport> TrainClassifier(const Dataset& train, const Dataset* dev, const TrainConfig& config);

}  // namespace flotilla::classify
