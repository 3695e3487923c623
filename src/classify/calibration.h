// Calibration and selective prediction: temperature scaling, risk-coverage curves, abstain thresholds
// and the metrics that judge them (expected calibration error, coverage at a precision).
//
// "Confidence" is the largest calibrated class probability, max softmax(logits / T). A prediction is
// accepted when confidence >= threshold, otherwise the classifier abstains (hands the case on).
// "Precision" at a threshold is the accuracy over accepted predictions; "coverage" the accepted fraction.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"

namespace flotilla::classify {

// probs[i] = softmax(logits / temperature)[i]; probs.size() == logits.size().
void Softmax(std::span<const float> logits, float temperature, std::span<float> probs);

// The temperature T in [0.05, 20] minimizing the mean negative log-likelihood of `labels` under
// softmax(logits / T). logits: [n, n_classes] row-major; labels[i] in [0, n_classes). Returns 1 for n == 0.
float FitTemperature(std::span<const float> logits, std::span<const int32_t> labels, int n_classes);

// Accuracy of the top-k accepted predictions, by confidence descending: point i accepts the i+1 most
// confident. Stored in the model (at most `max_points` points, evenly spaced in coverage) so that an
// abstain target can be turned into a threshold at prediction time.
struct RiskCurve {
  std::vector<float> confidence;  // descending
  std::vector<float> coverage;    // ascending, in (0, 1]
  std::vector<float> precision;   // accuracy among accepted at this point
  bool empty() const { return confidence.empty(); }
};
RiskCurve BuildRiskCurve(std::span<const float> confidence, std::span<const uint8_t> correct, int max_points = 256);

enum class AbstainTarget { kNone, kPrecision, kCoverage };
std::string_view AbstainTargetName(AbstainTarget t);  // "none", "precision", "coverage"

// What decides abstention: a target (precision or coverage in (0, 1]) turned into a threshold on the
// calibration curve. kNone: threshold 0 (never abstain).
struct AbstainPolicy {
  AbstainTarget target = AbstainTarget::kNone;
  double value = 0;
  float threshold = 0;
};

// The threshold that meets `target` on `curve`: for precision, the lowest threshold whose accepted set
// still reaches the precision (the largest coverage); for coverage, the threshold that accepts that
// fraction. When no point reaches a precision target the threshold is the highest confidence on the
// curve (accepting only the most confident), and `*reached` is set false.
StatusOr<AbstainPolicy> PolicyFromCurve(const RiskCurve& curve, AbstainTarget target, double value,
                                        bool* reached = nullptr);

// Expected calibration error with `n_bins` equal-width confidence bins: sum_b |acc_b - conf_b| * n_b / n.
double ExpectedCalibrationError(std::span<const float> confidence, std::span<const uint8_t> correct,
                                int n_bins = 15);

// The largest fraction of examples that can be accepted (most confident first, whole ties only) with
// accuracy >= `precision` among them; 0 when even the most confident group misses it.
double CoverageAtPrecision(std::span<const float> confidence, std::span<const uint8_t> correct, double precision);

}  // namespace flotilla::classify
