// The interface every classifier family implements, and what they share: label names, temperature
// scaling, the calibration curve and the abstain policy, saving to and loading from one GGUF file.
//
// A family is a subclass that turns a text into logits (uncalibrated class scores) and writes its own
// weights and settings into the GGUF; LoadClassifier dispatches on `general.architecture`. The n-gram
// linear model ("flotilla-ngram", ngram.h) and the transformer with a classification head
// ("flotilla-transformer", transformer.h) are the families this build has.
//
// Common GGUF keys (written by Save, validated by LoadClassifier):
//   general.architecture          string  the family
//   classify.labels               [string] label names; logits index into it
//   classify.temperature          f32     T > 0; probabilities are softmax(logits / T)
//   classify.curve.{confidence,coverage,precision}  [f32] the calibration split's risk-coverage curve
//   classify.abstain.{target,value,threshold}        the default abstain policy (target: none|precision|coverage)
//   classify.train.{seconds,examples}, classify.calibration.examples   how it was trained
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "classify/calibration.h"
#include "flotilla/status.h"

namespace flotilla::gguf {
class File;
class Writer;
}  // namespace flotilla::gguf

namespace flotilla::classify {

inline constexpr std::string_view kNgramArchitecture = "flotilla-ngram";

struct Prediction {
  int32_t label = -1;      // index into labels(); the most probable class, also when abstaining
  float confidence = 0;    // calibrated probability of `label`
  bool abstain = false;    // confidence < the policy's threshold
};

// Facts about training kept in the model, for reports.
struct TrainInfo {
  double seconds = 0;
  int64_t n_train = 0;
  int64_t n_calibration = 0;  // examples the temperature and curve were fitted on
};

class Classifier {
 public:
  virtual ~Classifier() = default;

  virtual std::string_view architecture() const = 0;
  // Uncalibrated scores of one text; logits.size() == n_labels(). Thread-safe (const, no shared scratch).
  virtual void Logits(std::string_view text, std::span<float> logits) const = 0;

  const std::vector<std::string>& labels() const { return labels_; }
  int n_labels() const { return static_cast<int>(labels_.size()); }
  // Index of `name` in labels(), or -1.
  int32_t LabelIndex(std::string_view name) const;

  float temperature() const { return temperature_; }
  void set_temperature(float t) { temperature_ = t; }
  const RiskCurve& curve() const { return curve_; }
  void set_curve(RiskCurve curve) { curve_ = std::move(curve); }
  const AbstainPolicy& policy() const { return policy_; }
  void set_policy(AbstainPolicy policy) { policy_ = policy; }
  // Sets the policy from a target on the stored curve (see PolicyFromCurve); *reached as there.
  Status SetAbstainTarget(AbstainTarget target, double value, bool* reached = nullptr);
  const TrainInfo& train_info() const { return train_info_; }
  void set_train_info(TrainInfo info) { train_info_ = info; }

  // Calibrated prediction. `probs` (size n_labels(), may be empty) receives the probabilities.
  Prediction Predict(std::string_view text, std::span<float> probs = {}) const;

  // Writes the model atomically: common keys, then the family's (AddFamilyData).
  Status Save(const std::string& path) const;

 protected:
  explicit Classifier(std::vector<std::string> labels) : labels_(std::move(labels)) {}
  // Adds the family's metadata and tensors. Tensor bytes must live as long as the Classifier or be
  // kept in `buffers` (which live until the file is written).
  virtual Status AddFamilyData(gguf::Writer* writer, std::vector<std::vector<uint8_t>>* buffers) const = 0;
  // Reads the common keys from `file` into this object (used by the families' loaders).
  Status ReadCommon(const gguf::File& file);

 private:
  std::vector<std::string> labels_;
  float temperature_ = 1.0f;
  RiskCurve curve_;
  AbstainPolicy policy_;
  TrainInfo train_info_;
};

// Reads the labels a model file declares (classify.labels): INVALID/DATA_LOSS when missing, not
// strings, fewer than two, empty or duplicated.
StatusOr<std::vector<std::string>> ReadLabels(const gguf::File& file);

// Opens a model file and builds the classifier its `general.architecture` names. Every error names
// the path; an architecture this build does not know is UNIMPLEMENTED.
StatusOr<std::unique_ptr<Classifier>> LoadClassifier(const std::string& path);

}  // namespace flotilla::classify
