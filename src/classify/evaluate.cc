#include "classify/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

namespace flotilla::classify {
namespace {

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  return v[i];
}

// Macro-F1 over every label that is a gold label or a prediction. gold -1: a label the model lacks.
double MacroF1(const std::vector<int32_t>& gold, const std::vector<int32_t>& pred, const std::vector<std::string>& gold_names) {
  // Key labels by name so that test-only labels (gold -1) stay distinct.
  std::map<std::string, std::array<int64_t, 3>> stats;  // tp, fp, fn
  for (size_t i = 0; i < gold.size(); ++i) {
    const std::string& g = gold_names[i];
    const std::string p = "#" + std::to_string(pred[i]);
    const std::string gk = gold[i] >= 0 ? "#" + std::to_string(gold[i]) : "?" + g;
    if (gk == p) {
      ++stats[gk][0];
    } else {
      ++stats[p][1];
      ++stats[gk][2];
    }
  }
  double sum = 0;
  for (const auto& [k, s] : stats) {
    const double denom = 2.0 * s[0] + s[1] + s[2];
    sum += denom > 0 ? 2.0 * s[0] / denom : 0;
  }
  return stats.empty() ? 0 : sum / stats.size();
}

}  // namespace

StatusOr<EvalReport> Evaluate(const Classifier& model, const Dataset& test, const EvalOptions& options) {
  EvalReport r;
  const size_t n = test.examples.size();
  if (n == 0) return InvalidArgumentError(test.name + ": no examples to evaluate");
  r.n = static_cast<int64_t>(n);
  r.policy = model.policy();
  const int32_t oos = model.LabelIndex(options.oos_label);
  std::vector<int32_t> gold(n), pred(n);
  std::vector<std::string> gold_names(n);
  std::vector<float> conf(n), probs(model.n_labels());
  std::vector<uint8_t> correct(n), abstained(n);
  std::vector<double> latency(n);
  std::map<std::string, int64_t> unknown;
  double nll = 0;
  int64_t n_known = 0;
  for (size_t i = 0; i < n; ++i) {
    const Example& e = test.examples[i];
    const auto t0 = std::chrono::steady_clock::now();
    const Prediction p = model.Predict(e.text, probs);
    latency[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    gold[i] = model.LabelIndex(e.label);
    gold_names[i] = e.label;
    if (gold[i] < 0) ++unknown[e.label];
    pred[i] = p.label;
    conf[i] = p.confidence;
    correct[i] = gold[i] == p.label;
    abstained[i] = p.abstain;
    if (gold[i] >= 0) {
      nll -= std::log(std::max(probs[gold[i]], 1e-30f));
      ++n_known;
    }
  }
  for (const auto& [label, count] : unknown) {
    r.warnings.push_back(test.name + ": label \"" + label + "\" (" + std::to_string(count) +
                         " rows) is not one the model knows; counted as errors");
  }
  int64_t n_correct = 0, n_accepted = 0, n_accepted_correct = 0;
  for (size_t i = 0; i < n; ++i) {
    n_correct += correct[i];
    if (!abstained[i]) {
      ++n_accepted;
      n_accepted_correct += correct[i];
    }
  }
  r.accuracy = static_cast<double>(n_correct) / n;
  r.macro_f1 = MacroF1(gold, pred, gold_names);
  r.ece = ExpectedCalibrationError(conf, correct);
  r.nll = n_known ? nll / n_known : 0;
  for (double target : {0.95, 0.98, 0.99}) r.coverage_at.push_back({target, CoverageAtPrecision(conf, correct, target)});
  r.coverage = static_cast<double>(n_accepted) / n;
  r.selective_accuracy = n_accepted ? static_cast<double>(n_accepted_correct) / n_accepted : 0;
  // Out-of-scope: gold examples labelled with the oos label, whether or not the model knows it.
  int64_t in_ok = 0, in_ok_abstain = 0, oos_hit = 0, oos_hit_abstain = 0;
  for (size_t i = 0; i < n; ++i) {
    if (gold_names[i] == options.oos_label) {
      ++r.n_oos;
      oos_hit += oos >= 0 && pred[i] == oos;
      oos_hit_abstain += (oos >= 0 && pred[i] == oos) || abstained[i];
    } else {
      ++r.n_in_scope;
      in_ok += correct[i];
      in_ok_abstain += correct[i] && !abstained[i];
    }
  }
  r.has_oos = r.n_oos > 0;
  if (r.has_oos) {
    r.in_scope_accuracy = r.n_in_scope ? static_cast<double>(in_ok) / r.n_in_scope : 0;
    r.in_scope_accuracy_abstain = r.n_in_scope ? static_cast<double>(in_ok_abstain) / r.n_in_scope : 0;
    r.oos_recall = static_cast<double>(oos_hit) / r.n_oos;
    r.oos_recall_abstain = static_cast<double>(oos_hit_abstain) / r.n_oos;
  }
  r.latency_p50_ms = Percentile(latency, 0.5);
  r.latency_p99_ms = Percentile(latency, 0.99);
  return r;
}

}  // namespace flotilla::classify
