#include "tokenizer/vocab_trainer.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace flotilla {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SPM's visible space
constexpr int32_t kFixedTokens = 3 + 256;

// Length of the UTF-8 character starting with byte `c` (1 for invalid lead bytes).
size_t Utf8Length(unsigned char c) {
  if (c >= 0xF0 && c <= 0xF4) return 4;
  if (c >= 0xE0) return c <= 0xEF ? 3 : 1;
  if (c >= 0xC2) return 2;
  return 1;
}

// Words as SPM sees them: text split on ' ', each word with U+2581 in front; newlines and other
// characters stay inside words. Returns word -> count.
std::unordered_map<std::string, int64_t> CountWords(std::string_view text) {
  std::unordered_map<std::string, int64_t> counts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) ++counts[std::string(kSpace) + std::string(text.substr(start, end - start))];
    start = end + 1;
  }
  return counts;
}

struct Word {
  std::vector<std::string> symbols;
  int64_t count;
};

std::vector<Word> SplitIntoCharacters(const std::unordered_map<std::string, int64_t>& counts) {
  std::vector<Word> words;
  words.reserve(counts.size());
  for (const auto& [text, count] : counts) {
    Word w{{}, count};
    for (size_t i = 0; i < text.size();) {
      size_t len = std::min(Utf8Length(static_cast<unsigned char>(text[i])), text.size() - i);
      w.symbols.emplace_back(text.substr(i, len));
      i += len;
    }
    words.push_back(std::move(w));
  }
  // Deterministic order whatever the hash map did.
  std::sort(words.begin(), words.end(),
            [](const Word& a, const Word& b) { return a.symbols < b.symbols; });
  return words;
}

// The most frequent adjacent pair (ties: the smaller pair), or count 0 when none.
std::pair<std::pair<std::string, std::string>, int64_t> BestPair(const std::vector<Word>& words) {
  std::map<std::pair<std::string, std::string>, int64_t> pairs;
  for (const Word& w : words) {
    for (size_t i = 0; i + 1 < w.symbols.size(); ++i) pairs[{w.symbols[i], w.symbols[i + 1]}] += w.count;
  }
  std::pair<std::pair<std::string, std::string>, int64_t> best{{}, 0};
  for (const auto& entry : pairs) {
    if (entry.second > best.second) best = entry;
  }
  return best;
}

void ApplyMerge(std::vector<Word>& words, const std::string& left, const std::string& right) {
  for (Word& w : words) {
    std::vector<std::string> merged;
    merged.reserve(w.symbols.size());
    for (size_t i = 0; i < w.symbols.size(); ++i) {
      if (i + 1 < w.symbols.size() && w.symbols[i] == left && w.symbols[i + 1] == right) {
        merged.push_back(left + right);
        ++i;
      } else {
        merged.push_back(std::move(w.symbols[i]));
      }
    }
    w.symbols = std::move(merged);
  }
}

void AddToken(Vocab& v, std::string text, float score, TokenType type) {
  v.tokens.push_back(std::move(text));
  v.scores.push_back(score);
  v.types.push_back(type);
}

}  // namespace

StatusOr<Vocab> TrainSpmVocab(std::string_view text, const VocabTrainerOptions& options) {
  if (options.vocab_size < kFixedTokens) {
    return InvalidArgumentError("vocab size " + std::to_string(options.vocab_size) +
                                " is below the " + std::to_string(kFixedTokens) +
                                " fixed tokens (<unk>, <s>, </s> and 256 bytes)");
  }
  Vocab v;
  v.kind = TokenizerKind::kSpm;
  v.unk = 0, v.bos = 1, v.eos = 2;
  v.add_bos = true;
  v.add_space_prefix = true;
  AddToken(v, "<unk>", 0.0f, TokenType::kUnknown);
  AddToken(v, "<s>", 0.0f, TokenType::kControl);
  AddToken(v, "</s>", 0.0f, TokenType::kControl);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    AddToken(v, name, 0.0f, TokenType::kByte);
  }

  std::vector<Word> words = SplitIntoCharacters(CountWords(text));
  // Characters, most frequent first; those seen too rarely are left to byte fallback.
  std::map<std::string, int64_t> char_counts;
  for (const Word& w : words) {
    for (const std::string& s : w.symbols) char_counts[s] += w.count;
  }
  std::vector<std::pair<std::string, int64_t>> chars(char_counts.begin(), char_counts.end());
  std::stable_sort(chars.begin(), chars.end(), [](auto& a, auto& b) { return a.second > b.second; });
  // Character scores sit below every merge score so that they never outrank a merge.
  const float char_score = -static_cast<float>(options.vocab_size);
  for (const auto& [c, count] : chars) {
    if (v.size() >= options.vocab_size || count < options.min_frequency) break;
    if (c.size() == 1 && static_cast<unsigned char>(c[0]) >= 0x80) continue;  // invalid UTF-8: bytes
    AddToken(v, c, char_score, TokenType::kNormal);
  }

  std::set<std::string> known(v.tokens.begin(), v.tokens.end());
  int32_t n_merges = 0;
  while (v.size() < options.vocab_size) {
    auto [pair, count] = BestPair(words);
    if (count < options.min_frequency) break;
    ApplyMerge(words, pair.first, pair.second);
    std::string piece = pair.first + pair.second;
    // Two merges can spell the same piece ("ab"+"c", "a"+"bc"); it is one token.
    if (known.insert(piece).second) {
      AddToken(v, std::move(piece), -static_cast<float>(n_merges++), TokenType::kNormal);
    }
  }
  for (int32_t i = 0; v.size() < options.vocab_size; ++i) {
    AddToken(v, "<unused_" + std::to_string(i) + ">", char_score - 1.0f, TokenType::kUnused);
  }
  return v;
}

}  // namespace flotilla
