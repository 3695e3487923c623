// Hashed n-gram features of a text, for the n-gram linear classifier.
//
// Normalization: ASCII letters lowercased (when `lowercase`); words are maximal runs of letters,
// digits, apostrophes and non-ASCII characters; other ASCII characters separate words and each
// punctuation mark that is not a space is a word of its own ("card?" -> "card", "?").
// Features, each hashed (64-bit FNV-1a with a per-kind seed) into 2^hash_bits buckets:
//   word n-grams for n = 1..word_ngrams (over the word sequence, with sentence boundary markers for n >= 2)
//   character n-grams for n = char_min..char_max within "<word>" (boundary marks count as characters;
//   n counts code points, not bytes); char_max = 0 turns them off.
// The result is sorted and without duplicates (binary bag of features).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"

namespace flotilla::classify {

struct FeaturizerConfig {
  int word_ngrams = 2;
  int char_min = 2;
  int char_max = 5;
  bool lowercase = true;
  int hash_bits = 22;

  // INVALID_ARGUMENT naming the field when out of range (word_ngrams 1..5, chars 0..10, bits 10..30).
  Status Validate() const;
};

class Featurizer {
 public:
  explicit Featurizer(FeaturizerConfig config) : config_(config) {}
  const FeaturizerConfig& config() const { return config_; }

  // Appends nothing for an empty text. `out` is cleared first; buckets are < 2^hash_bits.
  void Features(std::string_view text, std::vector<uint32_t>* out) const;

 private:
  FeaturizerConfig config_;
};

}  // namespace flotilla::classify
