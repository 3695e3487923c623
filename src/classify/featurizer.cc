#include "classify/featurizer.h"

#include <algorithm>

namespace flotilla::classify {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

inline uint64_t Fnv(uint64_t h, std::string_view s) {
  for (unsigned char c : s) h = (h ^ c) * kFnvPrime;
  return h;
}

// Seeds keep feature kinds apart: the word "ab" and the character bigram "ab" hash differently.
inline uint64_t Seed(uint64_t kind) { return (kFnvOffset ^ (kind * 0x9E3779B97F4A7C15ull)) * kFnvPrime; }

// Final mix so that the low bits used as the bucket depend on every input byte.
inline uint32_t Bucket(uint64_t h, int bits) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<uint32_t>(h & ((uint64_t{1} << bits) - 1));
}

bool IsWordByte(unsigned char c) {
  return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'';
}

// Splits normalized text into words (see the header).
void SplitWords(const std::string& s, std::vector<std::string_view>* words) {
  words->clear();
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (IsWordByte(c)) {
      size_t j = i;
      while (j < s.size() && IsWordByte(static_cast<unsigned char>(s[j]))) ++j;
      words->emplace_back(s.data() + i, j - i);
      i = j;
    } else {
      if (c > ' ') words->emplace_back(s.data() + i, 1);
      ++i;
    }
  }
}

}  // namespace

Status FeaturizerConfig::Validate() const {
  if (word_ngrams < 1 || word_ngrams > 5) return InvalidArgumentError("word_ngrams must be 1..5");
  if (char_max < 0 || char_max > 10) return InvalidArgumentError("char_max must be 0..10");
  if (char_max > 0 && (char_min < 1 || char_min > char_max)) {
    return InvalidArgumentError("char_min must be 1..char_max");
  }
  if (hash_bits < 10 || hash_bits > 30) return InvalidArgumentError("hash_bits must be 10..30");
  return Status::Ok();
}

void Featurizer::Features(std::string_view text, std::vector<uint32_t>* out) const {
  out->clear();
  std::string s(text);
  if (config_.lowercase) {
    for (char& c : s) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  std::vector<std::string_view> words;
  SplitWords(s, &words);
  if (words.empty()) return;
  const int bits = config_.hash_bits;
  // Word n-grams; for n >= 2 the sequence is padded with one boundary word at each end.
  for (int n = 1; n <= config_.word_ngrams; ++n) {
    const uint64_t seed = Seed(static_cast<uint64_t>(n));
    const int64_t n_words = static_cast<int64_t>(words.size());
    const int64_t first = n == 1 ? 0 : -1, last = n == 1 ? n_words - 1 : n_words - n + 1;
    for (int64_t start = first; start <= last; ++start) {
      uint64_t h = seed;
      for (int k = 0; k < n; ++k) {
        const int64_t w = start + k;
        h = (w < 0 || w >= n_words) ? Fnv(h, "\x01") : Fnv(h, words[w]);
        h = (h ^ 0x1F) * kFnvPrime;  // word separator
      }
      out->push_back(Bucket(h, bits));
    }
  }
  // Character n-grams inside "<word>", by code point.
  if (config_.char_max > 0) {
    std::string padded;
    std::vector<size_t> starts;  // byte offset of each code point, plus the end
    for (std::string_view w : words) {
      padded.assign("<");
      padded.append(w);
      padded.push_back('>');
      starts.clear();
      for (size_t i = 0; i < padded.size(); ++i) {
        if ((static_cast<unsigned char>(padded[i]) & 0xC0) != 0x80) starts.push_back(i);
      }
      const int n_cp = static_cast<int>(starts.size());
      starts.push_back(padded.size());
      for (int n = config_.char_min; n <= config_.char_max; ++n) {
        if (n > n_cp) break;
        const uint64_t seed = Seed(100 + static_cast<uint64_t>(n));
        for (int b = 0; b + n <= n_cp; ++b) {
          std::string_view gram(padded.data() + starts[b], starts[b + n] - starts[b]);
          out->push_back(Bucket(Fnv(seed, gram), bits));
        }
      }
    }
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
}

}  // namespace flotilla::classify
