#include "classify/ngram.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
#include <random>

#include "gguf/gguf.h"
#include "tensor/fp16.h"

namespace flotilla::classify {
namespace {

constexpr std::string_view kPrefix = "flotilla-ngram.";

std::string Key(std::string_view name) { return std::string(kPrefix) + std::string(name); }

// Bucket id -> weight row, open addressing with linear probing; built once per model.
class BucketIndex {
 public:
  void Build(std::span<const uint32_t> buckets) {
    size_t cap = 16;
    while (cap < buckets.size() * 2) cap <<= 1;
    mask_ = cap - 1;
    keys_.assign(cap, kEmpty);
    rows_.assign(cap, 0);
    for (size_t r = 0; r < buckets.size(); ++r) {
      size_t i = Hash(buckets[r]) & mask_;
      while (keys_[i] != kEmpty) i = (i + 1) & mask_;
      keys_[i] = buckets[r];
      rows_[i] = static_cast<uint32_t>(r);
    }
  }
  // The row of `bucket`, or -1 when it was not seen in training.
  int64_t Find(uint32_t bucket) const {
    size_t i = Hash(bucket) & mask_;
    while (true) {
      const uint32_t k = keys_[i];
      if (k == bucket) return rows_[i];
      if (k == kEmpty) return -1;
      i = (i + 1) & mask_;
    }
  }

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;  // buckets are < 2^30
  static size_t Hash(uint32_t b) { return (static_cast<uint64_t>(b) * 0x9E3779B97F4A7C15ull) >> 20; }
  size_t mask_ = 0;
  std::vector<uint32_t> keys_;
  std::vector<uint32_t> rows_;
};

class NgramClassifier final : public Classifier {
 public:
  NgramClassifier(std::vector<std::string> labels, NgramConfig config, std::vector<uint32_t> buckets,
                  std::vector<float> weight, std::vector<float> bias)
      : Classifier(std::move(labels)), config_(config), featurizer_(config.features),
        buckets_(std::move(buckets)), owned_weight_(std::move(weight)), bias_(std::move(bias)) {
    weight_ = owned_weight_.data();
    index_.Build(buckets_);
  }
  // Weights used in place from `file` (f32) or converted (f16) by the loader.
  NgramClassifier(std::vector<std::string> labels, NgramConfig config, std::vector<uint32_t> buckets,
                  std::vector<float> owned_weight, const float* weight, std::vector<float> bias, gguf::File file)
      : Classifier(std::move(labels)), config_(config), featurizer_(config.features),
        buckets_(std::move(buckets)), owned_weight_(std::move(owned_weight)), bias_(std::move(bias)),
        file_(std::move(file)) {
    weight_ = owned_weight_.empty() ? weight : owned_weight_.data();
    index_.Build(buckets_);
  }

  std::string_view architecture() const override { return kNgramArchitecture; }
  // Reads the common keys from the file this model was loaded from.
  Status ReadOwnCommon() { return file_ ? ReadCommon(*file_) : Status::Ok(); }

  void Logits(std::string_view text, std::span<float> logits) const override {
    const int n_classes = n_labels();
    CHECK(static_cast<int>(logits.size()) == n_classes);
    thread_local std::vector<uint32_t> feats;
    featurizer_.Features(text, &feats);
    std::fill(logits.begin(), logits.end(), 0.0f);
    float* z = logits.data();
    for (uint32_t f : feats) {
      const int64_t row = index_.Find(f);
      if (row < 0) continue;
      const float* w = weight_ + row * n_classes;
      for (int c = 0; c < n_classes; ++c) z[c] += w[c];
    }
    const float x = feats.empty() ? 0.0f : 1.0f / std::sqrt(static_cast<float>(feats.size()));
    for (int c = 0; c < n_classes; ++c) z[c] = bias_[c] + x * z[c];
  }

 protected:
  Status AddFamilyData(gguf::Writer* w, std::vector<std::vector<uint8_t>>* buffers) const override {
    const FeaturizerConfig& f = config_.features;
    w->Set(Key("word_ngrams"), gguf::Value::I32(f.word_ngrams));
    w->Set(Key("char_min"), gguf::Value::I32(f.char_min));
    w->Set(Key("char_max"), gguf::Value::I32(f.char_max));
    w->Set(Key("lowercase"), gguf::Value::Bool(f.lowercase));
    w->Set(Key("hash_bits"), gguf::Value::I32(f.hash_bits));
    const int64_t n_rows = static_cast<int64_t>(buckets_.size()), n_classes = n_labels();
    auto bytes_of = [](const auto* p, size_t n) {
      return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(p), n * sizeof(*p));
    };
    RETURN_IF_ERROR(w->AddTensor("ngram.buckets", DType::kI32, {n_rows}, bytes_of(buckets_.data(), buckets_.size())));
    const size_t n_weights = static_cast<size_t>(n_rows * n_classes);
    if (config_.f16_weights) {
      std::vector<uint8_t>& buf = buffers->emplace_back(n_weights * 2);
      uint16_t* h = reinterpret_cast<uint16_t*>(buf.data());
      for (size_t i = 0; i < n_weights; ++i) h[i] = FP32ToFP16(weight_[i]);
      RETURN_IF_ERROR(w->AddTensor("ngram.weight", DType::kF16, {n_classes, n_rows}, buf));
    } else {
      RETURN_IF_ERROR(w->AddTensor("ngram.weight", DType::kF32, {n_classes, n_rows}, bytes_of(weight_, n_weights)));
    }
    return w->AddTensor("ngram.bias", DType::kF32, {n_classes}, bytes_of(bias_.data(), bias_.size()));
  }

 private:
  NgramConfig config_;
  Featurizer featurizer_;
  std::vector<uint32_t> buckets_;
  std::vector<float> owned_weight_;
  const float* weight_ = nullptr;  // [V, n_labels]
  std::vector<float> bias_;        // [n_labels]
  std::optional<gguf::File> file_;
  BucketIndex index_;
};

// Training data in compact form: per example, the weight rows of its kept features and x = 1/sqrt(n).
struct SparseData {
  std::vector<uint32_t> buckets;  // kept buckets, ascending; row r is buckets[r]
  std::vector<int64_t> offsets;   // example i's rows are rows[offsets[i], offsets[i+1])
  std::vector<uint32_t> rows;
  std::vector<float> scale;
};

SparseData Featurize(const std::vector<std::string_view>& texts, const NgramConfig& config) {
  const Featurizer featurizer(config.features);
  std::vector<std::vector<uint32_t>> feats(texts.size());
  std::vector<uint32_t> all;
  for (size_t i = 0; i < texts.size(); ++i) {
    featurizer.Features(texts[i], &feats[i]);
    all.insert(all.end(), feats[i].begin(), feats[i].end());
  }
  std::sort(all.begin(), all.end());
  SparseData d;
  for (size_t i = 0; i < all.size();) {  // document frequency of each bucket (features are unique per text)
    size_t j = i;
    while (j < all.size() && all[j] == all[i]) ++j;
    if (static_cast<int>(j - i) >= config.min_count) d.buckets.push_back(all[i]);
    i = j;
  }
  d.offsets.push_back(0);
  for (const std::vector<uint32_t>& f : feats) {
    for (uint32_t b : f) {
      auto it = std::lower_bound(d.buckets.begin(), d.buckets.end(), b);
      if (it != d.buckets.end() && *it == b) d.rows.push_back(static_cast<uint32_t>(it - d.buckets.begin()));
    }
    d.offsets.push_back(static_cast<int64_t>(d.rows.size()));
    d.scale.push_back(f.empty() ? 0.0f : 1.0f / std::sqrt(static_cast<float>(f.size())));
  }
  return d;
}

}  // namespace

Status NgramConfig::Validate() const {
  RETURN_IF_ERROR(features.Validate());
  if (epochs < 1 || epochs > 1000) return InvalidArgumentError("epochs must be 1..1000");
  if (!(learning_rate > 0 && learning_rate <= 100)) return InvalidArgumentError("learning rate must be in (0, 100]");
  if (!(l2 >= 0 && l2 < 1)) return InvalidArgumentError("l2 must be in [0, 1)");
  if (min_count < 1) return InvalidArgumentError("min_count must be at least 1");
  return Status::Ok();
}

StatusOr<std::unique_ptr<Classifier>> TrainNgram(const std::vector<std::string_view>& texts,
                                                 const std::vector<int32_t>& labels,
                                                 std::vector<std::string> label_names, const NgramConfig& config,
                                                 uint64_t seed, EpochCallback on_epoch, void* user) {
  RETURN_IF_ERROR(config.Validate());
  const int n_classes = static_cast<int>(label_names.size());
  if (n_classes < 2) return InvalidArgumentError("a classifier needs at least two classes");
  if (texts.empty() || texts.size() != labels.size()) return InvalidArgumentError("no training examples");
  for (int32_t y : labels) CHECK(y >= 0 && y < n_classes);
  const SparseData d = Featurize(texts, config);
  const size_t n_rows = d.buckets.size();
  std::vector<float> weight(n_rows * n_classes, 0.0f), bias(n_classes, 0.0f), p(n_classes);
  std::vector<size_t> order(texts.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  const double total_steps = static_cast<double>(config.epochs) * texts.size();
  double step = 0;
  for (int epoch = 0; epoch < config.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    double loss = 0;
    for (size_t i : order) {
      const float lr = static_cast<float>(config.learning_rate * (1.0 - step / total_steps));
      step += 1;
      const uint32_t* rows = d.rows.data() + d.offsets[i];
      const int64_t n_f = d.offsets[i + 1] - d.offsets[i];
      const float x = d.scale[i];
      std::fill(p.begin(), p.end(), 0.0f);
      for (int64_t k = 0; k < n_f; ++k) {
        const float* w = weight.data() + static_cast<size_t>(rows[k]) * n_classes;
        for (int c = 0; c < n_classes; ++c) p[c] += w[c];
      }
      for (int c = 0; c < n_classes; ++c) p[c] = bias[c] + x * p[c];
      Softmax(p, 1.0f, p);
      loss -= std::log(std::max(p[labels[i]], 1e-30f));
      p[labels[i]] -= 1.0f;  // p is now dLoss/dz
      for (int c = 0; c < n_classes; ++c) bias[c] -= lr * p[c];
      const float decay = 1.0f - lr * config.l2;
      for (int c = 0; c < n_classes; ++c) p[c] *= lr * x;
      for (int64_t k = 0; k < n_f; ++k) {
        float* w = weight.data() + static_cast<size_t>(rows[k]) * n_classes;
        for (int c = 0; c < n_classes; ++c) w[c] = w[c] * decay - p[c];
      }
    }
    if (on_epoch) on_epoch(epoch + 1, config.epochs, loss / texts.size(), user);
  }
  return std::unique_ptr<Classifier>(new NgramClassifier(std::move(label_names), config, d.buckets,
                                                         std::move(weight), std::move(bias)));
}

namespace {

StatusOr<int> GetIntKey(const gguf::File& file, std::string_view name) {
  ASSIGN_OR_RETURN(int64_t v, file.GetInt(Key(name)));
  if (v < -1000000 || v > 1000000) return DataLossError("metadata " + Key(name) + " out of range");
  return static_cast<int>(v);
}

StatusOr<NgramConfig> ReadNgramConfig(const gguf::File& file) {
  NgramConfig config;
  FeaturizerConfig& f = config.features;
  ASSIGN_OR_RETURN(f.word_ngrams, GetIntKey(file, "word_ngrams"));
  ASSIGN_OR_RETURN(f.char_min, GetIntKey(file, "char_min"));
  ASSIGN_OR_RETURN(f.char_max, GetIntKey(file, "char_max"));
  ASSIGN_OR_RETURN(f.lowercase, file.GetBool(Key("lowercase")));
  ASSIGN_OR_RETURN(f.hash_bits, GetIntKey(file, "hash_bits"));
  Status st = f.Validate();
  if (!st.ok()) return DataLossError("featurizer settings: " + st.message());
  return config;
}

StatusOr<const gguf::TensorInfo*> GetTensor(const gguf::File& file, std::string_view name, std::vector<int64_t> shape) {
  const gguf::TensorInfo* t = file.FindTensor(name);
  if (!t) return DataLossError("missing tensor " + std::string(name));
  if (t->shape != shape) return DataLossError("tensor " + std::string(name) + " has the wrong shape");
  return t;
}

}  // namespace

StatusOr<std::unique_ptr<Classifier>> LoadNgram(gguf::File file) {
  ASSIGN_OR_RETURN(std::vector<std::string> labels, ReadLabels(file));
  ASSIGN_OR_RETURN(NgramConfig config, ReadNgramConfig(file));
  const int64_t n_classes = static_cast<int64_t>(labels.size());
  const gguf::TensorInfo* tb = file.FindTensor("ngram.buckets");
  if (!tb || tb->dtype != DType::kI32 || tb->shape.size() != 1) {
    return DataLossError("tensor ngram.buckets missing or not a 1-D i32 tensor");
  }
  const int64_t n_rows = tb->shape[0];
  std::vector<uint32_t> buckets(n_rows);
  std::memcpy(buckets.data(), tb->data, n_rows * sizeof(uint32_t));
  const uint64_t limit = uint64_t{1} << config.features.hash_bits;
  for (int64_t r = 0; r < n_rows; ++r) {
    if (buckets[r] >= limit || (r > 0 && buckets[r] <= buckets[r - 1])) {
      return DataLossError("ngram.buckets is not strictly ascending below 2^hash_bits at entry " + std::to_string(r));
    }
  }
  ASSIGN_OR_RETURN(const gguf::TensorInfo* tw, GetTensor(file, "ngram.weight", {n_classes, n_rows}));
  ASSIGN_OR_RETURN(const gguf::TensorInfo* tbias, GetTensor(file, "ngram.bias", {n_classes}));
  if (tbias->dtype != DType::kF32) return DataLossError("ngram.bias is not f32");
  std::vector<float> bias(n_classes);
  std::memcpy(bias.data(), tbias->data, n_classes * sizeof(float));
  std::vector<float> owned;
  const float* weight = nullptr;
  if (tw->dtype == DType::kF16) {
    config.f16_weights = true;
    owned.resize(static_cast<size_t>(n_rows * n_classes));
    const uint16_t* h = reinterpret_cast<const uint16_t*>(tw->data);
    for (size_t i = 0; i < owned.size(); ++i) owned[i] = FP16ToFP32(h[i]);
  } else if (tw->dtype == DType::kF32) {
    if (reinterpret_cast<uintptr_t>(tw->data) % alignof(float) != 0) return DataLossError("ngram.weight misaligned");
    weight = reinterpret_cast<const float*>(tw->data);
  } else {
    return DataLossError("ngram.weight must be f32 or f16");
  }
  auto check_finite = [](const float* v, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(v[i])) return false;
    }
    return true;
  };
  if (!check_finite(bias.data(), bias.size()) ||
      !check_finite(weight ? weight : owned.data(), static_cast<size_t>(n_rows * n_classes))) {
    return DataLossError("ngram weights hold NaN or infinity");
  }
  auto model = std::make_unique<NgramClassifier>(std::move(labels), config, std::move(buckets), std::move(owned),
                                                 weight, std::move(bias), std::move(file));
  RETURN_IF_ERROR(model->ReadOwnCommon());
  return std::unique_ptr<Classifier>(std::move(model));
}

}  // namespace flotilla::classify
