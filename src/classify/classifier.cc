#include "classify/classifier.h"

#include <cmath>
#include <set>

#include "classify/ngram.h"
#include "classify/transformer.h"
#include "gguf/gguf.h"

namespace flotilla::classify {
namespace {

StatusOr<AbstainTarget> ParseTargetName(const std::string& name) {
  if (name == "none") return AbstainTarget::kNone;
  if (name == "precision") return AbstainTarget::kPrecision;
  if (name == "coverage") return AbstainTarget::kCoverage;
  return DataLossError("classify.abstain.target is \"" + name + "\" (none, precision, coverage)");
}

// Reads one curve array; all three must have the same length.
StatusOr<std::vector<float>> CurveArray(const gguf::File& file, const std::string& key) {
  if (!file.Find(key)) return std::vector<float>{};
  return file.GetF32Array(key);
}

Status ValidateCurve(const RiskCurve& c) {
  if (c.confidence.size() != c.coverage.size() || c.confidence.size() != c.precision.size()) {
    return DataLossError("classify.curve arrays differ in length");
  }
  for (size_t i = 0; i < c.confidence.size(); ++i) {
    const bool in_range = c.confidence[i] >= 0 && c.confidence[i] <= 1 && c.coverage[i] > 0 &&
                          c.coverage[i] <= 1 && c.precision[i] >= 0 && c.precision[i] <= 1;
    if (!in_range) return DataLossError("classify.curve value out of [0, 1] at point " + std::to_string(i));
    if (i > 0 && (c.confidence[i] > c.confidence[i - 1] || c.coverage[i] < c.coverage[i - 1])) {
      return DataLossError("classify.curve is not ordered at point " + std::to_string(i));
    }
  }
  return Status::Ok();
}

}  // namespace

int32_t Classifier::LabelIndex(std::string_view name) const {
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (labels_[i] == name) return static_cast<int32_t>(i);
  }
  return -1;
}

Status Classifier::SetAbstainTarget(AbstainTarget target, double value, bool* reached) {
  ASSIGN_OR_RETURN(AbstainPolicy policy, PolicyFromCurve(curve_, target, value, reached));
  policy_ = policy;
  return Status::Ok();
}

Prediction Classifier::Predict(std::string_view text, std::span<float> probs) const {
  const size_t n = labels_.size();
  thread_local std::vector<float> logits, scratch;
  logits.resize(n);
  scratch.resize(n);
  Logits(text, logits);
  std::span<float> p = probs.size() == n ? probs : std::span<float>(scratch);
  Softmax(logits, temperature_, p);
  Prediction pred;
  for (size_t c = 0; c < n; ++c) {
    if (pred.label < 0 || p[c] > p[pred.label]) pred.label = static_cast<int32_t>(c);
  }
  pred.confidence = p[pred.label];
  pred.abstain = pred.confidence < policy_.threshold;
  return pred;
}

Status Classifier::Save(const std::string& path) const {
  gguf::Writer w;
  w.Set("general.architecture", gguf::Value::String(std::string(architecture())));
  w.Set("general.type", gguf::Value::String("classifier"));
  w.Set("classify.labels", gguf::Value::StringArray(labels_));
  w.Set("classify.temperature", gguf::Value::F32(temperature_));
  w.Set("classify.curve.confidence", gguf::Value::F32Array(curve_.confidence));
  w.Set("classify.curve.coverage", gguf::Value::F32Array(curve_.coverage));
  w.Set("classify.curve.precision", gguf::Value::F32Array(curve_.precision));
  w.Set("classify.abstain.target", gguf::Value::String(std::string(AbstainTargetName(policy_.target))));
  w.Set("classify.abstain.value", gguf::Value::F32(static_cast<float>(policy_.value)));
  w.Set("classify.abstain.threshold", gguf::Value::F32(policy_.threshold));
  w.Set("classify.train.seconds", gguf::Value::F64(train_info_.seconds));
  w.Set("classify.train.examples", gguf::Value::U64(static_cast<uint64_t>(train_info_.n_train)));
  w.Set("classify.calibration.examples", gguf::Value::U64(static_cast<uint64_t>(train_info_.n_calibration)));
  std::vector<std::vector<uint8_t>> buffers;
  RETURN_IF_ERROR(AddFamilyData(&w, &buffers));
  Status st = w.WriteFile(path);
  return st.ok() ? st : st.WithContext(path);
}

Status Classifier::ReadCommon(const gguf::File& file) {
  ASSIGN_OR_RETURN(double t, file.GetFloat("classify.temperature"));
  if (!(t > 0 && t < 1e6)) return DataLossError("classify.temperature must be positive and finite");
  temperature_ = static_cast<float>(t);
  ASSIGN_OR_RETURN(curve_.confidence, CurveArray(file, "classify.curve.confidence"));
  ASSIGN_OR_RETURN(curve_.coverage, CurveArray(file, "classify.curve.coverage"));
  ASSIGN_OR_RETURN(curve_.precision, CurveArray(file, "classify.curve.precision"));
  RETURN_IF_ERROR(ValidateCurve(curve_));
  ASSIGN_OR_RETURN(std::string target, file.GetString("classify.abstain.target"));
  ASSIGN_OR_RETURN(policy_.target, ParseTargetName(target));
  ASSIGN_OR_RETURN(policy_.value, file.GetFloat("classify.abstain.value"));
  ASSIGN_OR_RETURN(double threshold, file.GetFloat("classify.abstain.threshold"));
  if (!(threshold >= 0 && threshold <= 1)) return DataLossError("classify.abstain.threshold must be in [0, 1]");
  policy_.threshold = static_cast<float>(threshold);
  if (file.Find("classify.train.seconds")) {
    ASSIGN_OR_RETURN(train_info_.seconds, file.GetFloat("classify.train.seconds"));
  }
  if (file.Find("classify.train.examples")) {
    ASSIGN_OR_RETURN(uint64_t n, file.GetUint("classify.train.examples"));
    train_info_.n_train = static_cast<int64_t>(n);
  }
  if (file.Find("classify.calibration.examples")) {
    ASSIGN_OR_RETURN(uint64_t n, file.GetUint("classify.calibration.examples"));
    train_info_.n_calibration = static_cast<int64_t>(n);
  }
  return Status::Ok();
}

StatusOr<std::vector<std::string>> ReadLabels(const gguf::File& file) {
  ASSIGN_OR_RETURN(std::vector<std::string> labels, file.GetStringArray("classify.labels"));
  if (labels.size() < 2) return DataLossError("classify.labels must name at least two classes");
  std::set<std::string> seen;
  for (const std::string& l : labels) {
    if (l.empty()) return DataLossError("classify.labels holds an empty label");
    if (!seen.insert(l).second) return DataLossError("classify.labels holds \"" + l + "\" twice");
  }
  return labels;
}

StatusOr<std::unique_ptr<Classifier>> LoadClassifier(const std::string& path) {
  StatusOr<gguf::File> file = gguf::File::Open(path);
  if (!file.ok()) return file.status();
  StatusOr<std::string> arch = file->GetString("general.architecture");
  if (!arch.ok()) return arch.status().WithContext(path + ": not a classifier");
  StatusOr<std::unique_ptr<Classifier>> model = UnimplementedError("");
  if (*arch == kNgramArchitecture) {
    model = LoadNgram(std::move(*file));
  } else if (*arch == kTransformerArchitecture) {
    model = LoadTransformer(std::move(*file));
  } else {
    return UnimplementedError(path + ": architecture \"" + *arch + "\" is not a classifier this build knows (" +
                              std::string(kNgramArchitecture) + ", " + std::string(kTransformerArchitecture) + ")");
  }
  if (!model.ok()) return model.status().WithContext(path);
  return model;
}

}  // namespace flotilla::classify
