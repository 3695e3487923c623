#include "classify/calibration.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "flotilla/check.h"

namespace flotilla::classify {
namespace {

// Mean NLL of labels under softmax(logits / t).
double MeanNll(std::span<const float> logits, std::span<const int32_t> labels, int n_classes, double t) {
  double total = 0;
  const size_t n = labels.size();
  for (size_t i = 0; i < n; ++i) {
    const float* z = logits.data() + i * n_classes;
    double mx = z[0];
    for (int c = 1; c < n_classes; ++c) mx = std::max(mx, static_cast<double>(z[c]));
    double sum = 0;
    for (int c = 0; c < n_classes; ++c) sum += std::exp((z[c] - mx) / t);
    total += std::log(sum) - (z[labels[i]] - mx) / t;
  }
  return n ? total / n : 0;
}

// Indices of `confidence` sorted by confidence descending (stable, so ties keep input order).
std::vector<size_t> ByConfidence(std::span<const float> confidence) {
  std::vector<size_t> order(confidence.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return confidence[a] > confidence[b]; });
  return order;
}

}  // namespace

void Softmax(std::span<const float> logits, float temperature, std::span<float> probs) {
  CHECK(logits.size() == probs.size());
  if (logits.empty()) return;
  const float inv_t = 1.0f / temperature;
  float mx = logits[0];
  for (float z : logits) mx = std::max(mx, z);
  float sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probs[i] = std::exp((logits[i] - mx) * inv_t);
    sum += probs[i];
  }
  for (float& p : probs) p /= sum;
}

float FitTemperature(std::span<const float> logits, std::span<const int32_t> labels, int n_classes) {
  CHECK(logits.size() == labels.size() * static_cast<size_t>(n_classes));
  if (labels.empty()) return 1.0f;
  // Golden-section search over log T; the NLL is unimodal in T for a fixed set of logits.
  double lo = std::log(0.05), hi = std::log(20.0);
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = hi - g * (hi - lo), b = lo + g * (hi - lo);
  double fa = MeanNll(logits, labels, n_classes, std::exp(a));
  double fb = MeanNll(logits, labels, n_classes, std::exp(b));
  for (int it = 0; it < 40; ++it) {
    if (fa < fb) {
      hi = b, b = a, fb = fa;
      a = hi - g * (hi - lo);
      fa = MeanNll(logits, labels, n_classes, std::exp(a));
    } else {
      lo = a, a = b, fa = fb;
      b = lo + g * (hi - lo);
      fb = MeanNll(logits, labels, n_classes, std::exp(b));
    }
  }
  return static_cast<float>(std::exp((lo + hi) / 2));
}

RiskCurve BuildRiskCurve(std::span<const float> confidence, std::span<const uint8_t> correct, int max_points) {
  CHECK(confidence.size() == correct.size());
  RiskCurve curve;
  const size_t n = confidence.size();
  if (n == 0 || max_points < 1) return curve;
  const std::vector<size_t> order = ByConfidence(confidence);
  const size_t step = std::max<size_t>(1, (n + max_points - 1) / max_points);
  size_t n_correct = 0;
  for (size_t k = 0; k < n; ++k) {
    n_correct += correct[order[k]];
    if ((k + 1) % step == 0 || k + 1 == n) {
      curve.confidence.push_back(confidence[order[k]]);
      curve.coverage.push_back(static_cast<float>(k + 1) / n);
      curve.precision.push_back(static_cast<float>(n_correct) / (k + 1));
    }
  }
  return curve;
}

std::string_view AbstainTargetName(AbstainTarget t) {
  switch (t) {
    case AbstainTarget::kNone: return "none";
    case AbstainTarget::kPrecision: return "precision";
    case AbstainTarget::kCoverage: return "coverage";
  }
  return "?";
}

StatusOr<AbstainPolicy> PolicyFromCurve(const RiskCurve& curve, AbstainTarget target, double value, bool* reached) {
  if (reached) *reached = true;
  AbstainPolicy policy{target, value, 0.0f};
  if (target == AbstainTarget::kNone) return policy;
  if (!(value > 0 && value <= 1)) {
    return InvalidArgumentError("an abstain target must be a fraction in (0, 1], got " + std::to_string(value));
  }
  if (curve.empty()) {
    return FailedPreconditionError("the model has no calibration curve, so an abstain target cannot be applied");
  }
  const size_t n = curve.confidence.size();
  if (target == AbstainTarget::kCoverage) {
    size_t i = 0;
    while (i + 1 < n && curve.coverage[i] < value - 1e-6) ++i;
    policy.threshold = curve.confidence[i];
    return policy;
  }
  // Precision: the largest coverage whose precision reaches the target.
  int best = -1;
  for (size_t i = 0; i < n; ++i) {
    if (curve.precision[i] >= value - 1e-6) best = static_cast<int>(i);
  }
  if (best < 0) {
    if (reached) *reached = false;
    best = 0;
  }
  policy.threshold = curve.confidence[best];
  return policy;
}

double ExpectedCalibrationError(std::span<const float> confidence, std::span<const uint8_t> correct, int n_bins) {
  CHECK(confidence.size() == correct.size() && n_bins > 0);
  if (confidence.empty()) return 0;
  std::vector<double> conf_sum(n_bins, 0), acc_sum(n_bins, 0), count(n_bins, 0);
  for (size_t i = 0; i < confidence.size(); ++i) {
    int b = static_cast<int>(confidence[i] * n_bins);
    b = std::clamp(b, 0, n_bins - 1);
    conf_sum[b] += confidence[i];
    acc_sum[b] += correct[i];
    count[b] += 1;
  }
  double ece = 0;
  for (int b = 0; b < n_bins; ++b) {
    if (count[b] > 0) ece += std::abs(acc_sum[b] - conf_sum[b]);
  }
  return ece / confidence.size();
}

double CoverageAtPrecision(std::span<const float> confidence, std::span<const uint8_t> correct, double precision) {
  CHECK(confidence.size() == correct.size());
  const size_t n = confidence.size();
  if (n == 0) return 0;
  const std::vector<size_t> order = ByConfidence(confidence);
  size_t n_correct = 0, best = 0;
  for (size_t k = 0; k < n; ++k) {
    n_correct += correct[order[k]];
    const bool tie_follows = k + 1 < n && confidence[order[k + 1]] == confidence[order[k]];
    if (!tie_follows && n_correct >= precision * (k + 1) - 1e-9) best = k + 1;
  }
  return static_cast<double>(best) / n;
}

}  // namespace flotilla::classify
