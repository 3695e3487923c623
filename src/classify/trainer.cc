#include "classify/trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>

namespace flotilla::classify {
namespace {

struct Split {
  std::vector<std::string_view> texts;
  std::vector<int32_t> labels;
};

// Label names sorted, and how often each occurs.
std::map<std::string, int64_t> CountLabels(const Dataset& ds) {
  std::map<std::string, int64_t> counts;
  for (const Example& e : ds.examples) ++counts[e.label];
  return counts;
}

int32_t IndexOf(const std::vector<std::string>& names, const std::string& label) {
  auto it = std::lower_bound(names.begin(), names.end(), label);
  return it != names.end() && *it == label ? static_cast<int32_t>(it - names.begin()) : -1;
}

// Converts `ds` to label indices; rows whose label is not in `names` are dropped with a warning.
Split ToSplit(const Dataset& ds, const std::vector<std::string>& names, std::vector<std::string>* warnings) {
  Split s;
  std::map<std::string, int64_t> unknown;
  for (const Example& e : ds.examples) {
    const int32_t y = IndexOf(names, e.label);
    if (y < 0) {
      ++unknown[e.label];
      continue;
    }
    s.texts.push_back(e.text);
    s.labels.push_back(y);
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& [label, n] : unknown) {
      if (list.size() < 200) list += (list.empty() ? "\"" : ", \"") + label + "\" (" + std::to_string(n) + ")";
    }
    warnings->push_back(ds.name + ": " + std::to_string(unknown.size()) +
                        " label(s) not in the training data, rows skipped: " + list);
  }
  return s;
}

// Moves about `fraction` of each class with at least two examples from `all` into the returned split.
Split HoldOut(Split* all, double fraction, uint64_t seed) {
  std::map<int32_t, std::vector<size_t>> by_class;
  for (size_t i = 0; i < all->labels.size(); ++i) by_class[all->labels[i]].push_back(i);
  std::mt19937_64 rng(seed ^ 0x5EEDull);
  std::vector<uint8_t> held(all->labels.size(), 0);
  for (auto& [y, idx] : by_class) {
    if (idx.size() < 2) continue;
    std::shuffle(idx.begin(), idx.end(), rng);
    const size_t k = std::min(idx.size() - 1, static_cast<size_t>(idx.size() * fraction + 0.5));
    for (size_t j = 0; j < k; ++j) held[idx[j]] = 1;
  }
  Split out, kept;
  for (size_t i = 0; i < held.size(); ++i) {
    Split& dst = held[i] ? out : kept;
    dst.texts.push_back(all->texts[i]);
    dst.labels.push_back(all->labels[i]);
  }
  *all = std::move(kept);
  return out;
}

void PrintEpoch(int epoch, int n_epochs, double loss, void* user) {
  std::fprintf(stderr, "  epoch %d/%d  loss %.4f\n", epoch, n_epochs, loss);
}

StatusOr<std::unique_ptr<Classifier>> TrainFamily(const Split& s, const std::vector<std::string>& names,
                                                  const TrainConfig& config) {
  if (config.family) return config.family(s.texts, s.labels, names, config.seed);
  if (config.architecture == kNgramArchitecture) {
    return TrainNgram(s.texts, s.labels, names, config.ngram, config.seed,
                      config.verbose ? PrintEpoch : nullptr, nullptr);
  }
  return UnimplementedError("unknown classifier architecture \"" + config.architecture + "\" (this build has " +
                            std::string(kNgramArchitecture) + ")");
}

// Fits the temperature and the curve of `model` on `cal`; returns the accuracy on `cal`.
double Calibrate(Classifier* model, const Split& cal) {
  const int n_classes = model->n_labels();
  const size_t n = cal.labels.size();
  std::vector<float> logits(n * n_classes);
  for (size_t i = 0; i < n; ++i) model->Logits(cal.texts[i], std::span<float>(logits.data() + i * n_classes, n_classes));
  const float t = FitTemperature(logits, cal.labels, n_classes);
  model->set_temperature(t);
  std::vector<float> conf(n), probs(n_classes);
  std::vector<uint8_t> correct(n);
  size_t n_correct = 0;
  for (size_t i = 0; i < n; ++i) {
    Softmax(std::span<const float>(logits.data() + i * n_classes, n_classes), t, probs);
    const int32_t arg = static_cast<int32_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
    conf[i] = probs[arg];
    correct[i] = arg == cal.labels[i];
    n_correct += correct[i];
  }
  model->set_curve(BuildRiskCurve(conf, correct));
  return n ? static_cast<double>(n_correct) / n : 0;
}

}  // namespace

StatusOr<TrainReport> TrainClassifier(const Dataset& train, const Dataset* dev, const TrainConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  if (!(config.holdout >= 0 && config.holdout < 1)) return InvalidArgumentError("holdout must be in [0, 1)");
  TrainReport report;
  const std::map<std::string, int64_t> counts = CountLabels(train);
  if (counts.size() < 2) {
    return InvalidArgumentError(train.name + ": only one class (\"" + counts.begin()->first +
                                "\"); a classifier needs at least two");
  }
  std::vector<std::string> names;
  int64_t n_single = 0;
  for (const auto& [label, n] : counts) {
    names.push_back(label);
    n_single += n == 1;
  }
  if (n_single > 0) {
    report.warnings.push_back(train.name + ": " + std::to_string(n_single) +
                              " class(es) have a single example; expect them to be learned poorly");
  }
  Split all = ToSplit(train, names, &report.warnings);
  Split cal;
  const bool use_dev = dev != nullptr;
  if (use_dev) {
    cal = ToSplit(*dev, names, &report.warnings);
    if (cal.labels.empty()) report.warnings.push_back(dev->name + ": no usable rows; the model is not calibrated");
  }
  Split fit = all;
  if (!use_dev && config.holdout > 0) cal = HoldOut(&fit, config.holdout, config.seed);
  ASSIGN_OR_RETURN(std::unique_ptr<Classifier> model, TrainFamily(fit, names, config));
  if (!cal.labels.empty()) {
    report.calibration_accuracy = Calibrate(model.get(), cal);
    if (!use_dev && config.retrain_on_all) {  // train again on all, keeping the calibration of the held-out fit
      ASSIGN_OR_RETURN(std::unique_ptr<Classifier> full, TrainFamily(all, names, config));
      full->set_temperature(model->temperature());
      full->set_curve(model->curve());
      model = std::move(full);
      fit = std::move(all);
    }
    RETURN_IF_ERROR(model->SetAbstainTarget(config.target, config.target_value, &report.target_reached));
    if (!report.target_reached) {
      report.warnings.push_back("no threshold reaches " + std::string(AbstainTargetName(config.target)) + " " +
                                std::to_string(config.target_value) +
                                " on the calibration split; abstaining on all but the most confident");
    }
  } else {
    report.warnings.push_back("no calibration data: temperature 1 and no abstain threshold");
  }
  report.n_train = static_cast<int64_t>(fit.labels.size());  // what the saved model was trained on
  report.n_calibration = static_cast<int64_t>(cal.labels.size());
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  model->set_train_info({report.seconds, report.n_train, report.n_calibration});
  report.model = std::move(model);
  return report;
}

}  // namespace flotilla::classify
