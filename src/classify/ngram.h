// Family 1: the n-gram linear classifier ("flotilla-ngram").
//
// A text becomes a binary bag of hashed word and character n-grams (featurizer.h), each with value
// 1/sqrt(n_features). Logits are a linear function of it: z = bias + sum_f x_f * W[f], W: [V, n_labels]
// where V counts the hash buckets seen (at least min_count times) in training; buckets never seen have
// zero weight and are not stored. Trained with SGD on softmax cross-entropy (linearly decaying rate,
// L2 weight decay, shuffled with a fixed seed), single-threaded so that a seed gives the same model.
//
// GGUF: metadata flotilla-ngram.{word_ngrams,char_min,char_max,lowercase,hash_bits}; tensors
//   ngram.buckets  i32 [V]            bucket ids, strictly ascending
//   ngram.weight   f16|f32 [n_labels, V] (ggml order: one row of n_labels per bucket)
//   ngram.bias     f32 [n_labels]
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "classify/classifier.h"
#include "classify/featurizer.h"

namespace flotilla::gguf {
class File;
}

namespace flotilla::classify {

struct NgramConfig {
  FeaturizerConfig features;
  int epochs = 30;
  float learning_rate = 1.0f;   // start of the linear decay to 0
  float l2 = 1e-5f;             // weight decay per example seen
  int min_count = 1;            // buckets seen in fewer training texts are dropped
  bool f16_weights = false;     // store W as f16 (half the file) instead of f32

  Status Validate() const;
};

// Trains on texts[i] with class labels[i] in [0, label_names.size()). Needs at least two classes.
// `progress`, when set, is called after each epoch with (epoch, n_epochs, mean training loss).
using EpochCallback = void (*)(int epoch, int n_epochs, double loss, void* user);
StatusOr<std::unique_ptr<Classifier>> TrainNgram(const std::vector<std::string_view>& texts,
                                                 const std::vector<int32_t>& labels,
                                                 std::vector<std::string> label_names, const NgramConfig& config,
                                                 uint64_t seed, EpochCallback on_epoch = nullptr,
                                                 void* user = nullptr);

// Builds the classifier from an opened file whose architecture is flotilla-ngram; validates every
// key and tensor. The file stays open (f32 weights are used in place).
StatusOr<std::unique_ptr<Classifier>> LoadNgram(gguf::File file);

}  // namespace flotilla::classify
