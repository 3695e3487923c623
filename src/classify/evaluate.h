// Evaluating a classifier on labelled data: accuracy, macro-F1, calibration (ECE), the risk-coverage
// table, abstention at the model's policy, out-of-scope detection and per-text latency.
#pragma once

#include <string>
#include <vector>

#include "classify/classifier.h"
#include "classify/dataset.h"

namespace flotilla::classify {

struct EvalOptions {
  // The label that marks out-of-scope examples ("oos" in CLINC150). Used when the test data or the
  // model has it; abstaining then counts as predicting it.
  std::string oos_label = "oos";
};

struct CoveragePoint {
  double precision = 0;  // target
  double coverage = 0;   // largest coverage reaching it on this data (oracle threshold)
};

struct EvalReport {
  int64_t n = 0;
  double accuracy = 0;      // argmax, every example
  double macro_f1 = 0;      // over the labels that occur in the data or are predicted
  double ece = 0;           // 15 bins, calibrated confidence
  double nll = 0;           // mean negative log-likelihood (examples with labels the model knows)
  std::vector<CoveragePoint> coverage_at;  // precisions 0.95, 0.98, 0.99
  // At the model's abstain policy:
  AbstainPolicy policy;
  double coverage = 0;            // fraction not abstained
  double selective_accuracy = 0;  // accuracy over accepted
  // Out-of-scope (only when has_oos):
  bool has_oos = false;
  int64_t n_in_scope = 0, n_oos = 0;
  double in_scope_accuracy = 0;          // argmax
  double oos_recall = 0;                 // argmax == oos label
  double in_scope_accuracy_abstain = 0;  // correct and not abstained
  double oos_recall_abstain = 0;         // argmax == oos label or abstained
  // Latency of one Predict call, milliseconds.
  double latency_p50_ms = 0, latency_p99_ms = 0;
  std::vector<std::string> warnings;
};

StatusOr<EvalReport> Evaluate(const Classifier& model, const Dataset& test, const EvalOptions& options);

}  // namespace flotilla::classify
