// WordPiece as llama.cpp runs it (llm_tokenizer_wpm) on vocabs converted from BERT, where a word-initial
// piece is stored as "▁word" and a continuation piece without the "##" prefix.
//
// Pre-processing, per code point (invalid UTF-8 decodes to U+FFFD, which is dropped):
//   1. map it to the first code point of its NFD decomposition (llama.cpp's accent stripping),
//   2. whitespace (Unicode White_Space) ends the current word,
//   3. U+0000, U+FFFD, controls (Cc, Cf, Co, Cs) and combining marks (M*) are dropped,
//   4. lowercase (simple case mapping),
//   5. punctuation (P*), ASCII symbols (S* below U+007F) and CJK ideographs are one-character words,
//   6. anything else extends the current word.
// Each word is then matched greedily, longest piece first, starting with "▁" + word; a word with any
// unmatched position becomes the unknown token.
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/codec.h"
#include "tokenizer/utf8.h"

namespace flotilla {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581

bool IsChineseChar(uint32_t c) {
  // The ranges of HF's BertPreTokenizer (0x2B920 where Unicode says 0x2B820, as HF has it).
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// The first code point of the NFD decomposition of `c` (itself when it has none).
uint32_t NfdFirst(const icu::Normalizer2* nfd, uint32_t c) {
  if (c < 0xC0 || nfd == nullptr) return c;  // nothing below U+00C0 decomposes
  icu::UnicodeString decomposition;
  if (!nfd->getDecomposition(static_cast<UChar32>(c), decomposition) || decomposition.isEmpty()) {
    return c;
  }
  return static_cast<uint32_t>(decomposition.char32At(0));
}

class WpmCodec final : public Codec {
 public:
  explicit WpmCodec(const Vocab& vocab);
  void Encode(std::string_view text, bool after_special, std::vector<int32_t>& out) const override;
  std::string DecodeToken(int32_t id) const override;

 private:
  std::vector<std::string> Preprocess(std::string_view text) const;
  void EncodeWord(const std::string& word, std::vector<int32_t>& out) const;

  std::vector<std::string> tokens_;
  std::unordered_map<std::string_view, int32_t> ids_;  // views into tokens_
  size_t max_token_len_ = 0;
  int32_t unk_;
  const icu::Normalizer2* nfd_ = nullptr;  // ICU singleton, owned by ICU
};

WpmCodec::WpmCodec(const Vocab& vocab) : tokens_(vocab.tokens), unk_(vocab.unk) {
  ids_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    ids_.emplace(tokens_[i], static_cast<int32_t>(i));
    max_token_len_ = std::max(max_token_len_, tokens_[i].size());
  }
  UErrorCode status = U_ZERO_ERROR;
  nfd_ = icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status)) nfd_ = nullptr;
}

std::vector<std::string> WpmCodec::Preprocess(std::string_view text) const {
  std::vector<std::string> words(1);
  for (uint32_t raw : utf8::Decode(text)) {
    const uint32_t c = NfdFirst(nfd_, raw);
    const UChar32 uc = static_cast<UChar32>(c);
    if (u_hasBinaryProperty(uc, UCHAR_WHITE_SPACE)) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    const int8_t type = u_charType(uc);
    const uint32_t mask = U_MASK(type);
    if (c == 0 || c == utf8::kReplacement ||
        (mask & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK | U_GC_CS_MASK)) != 0 ||
        (mask & U_GC_M_MASK) != 0) {
      continue;
    }
    const std::string s = utf8::Encode(static_cast<uint32_t>(u_tolower(uc)));
    const bool is_punct = (mask & U_GC_P_MASK) != 0;
    const bool is_symbol = (mask & U_GC_S_MASK) != 0;
    if (is_punct || (c < 0x7F && is_symbol) || IsChineseChar(c)) {
      if (!words.back().empty()) words.emplace_back();
      words.back() = s;
      words.emplace_back();
    } else {
      words.back() += s;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

void WpmCodec::EncodeWord(const std::string& word, std::vector<int32_t>& out) const {
  const std::string word1 = std::string(kSpaceMarker) + word;
  const size_t n = word1.size();
  const size_t start = out.size();
  for (size_t i = 0; i < n; ++i) {
    bool matched = false;
    for (size_t j = std::min(n, i + max_token_len_ + 1); j > i; --j) {
      auto it = ids_.find(std::string_view(word1).substr(i, j - i));
      if (it != ids_.end()) {
        out.push_back(it->second);
        matched = true;
        i = j - 1;
        break;
      }
    }
    if (!matched) {  // the whole word becomes unknown
      out.resize(start);
      break;
    }
  }
  if (out.size() == start && unk_ >= 0) out.push_back(unk_);
}

void WpmCodec::Encode(std::string_view text, bool /*after_special*/, std::vector<int32_t>& out) const {
  for (const std::string& word : Preprocess(text)) {
    if (!word.empty()) EncodeWord(word, out);
  }
}

std::string WpmCodec::DecodeToken(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(tokens_.size())) return "";
  const std::string& text = tokens_[id];
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    size_t hit = text.find(kSpaceMarker, pos);
    if (hit == std::string::npos) break;
    out.append(text, pos, hit - pos);
    out.push_back(' ');
    pos = hit + kSpaceMarker.size();
  }
  out.append(text, pos, std::string::npos);
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<Codec>> CreateWpmCodec(const Vocab& vocab) {
  if (vocab.kind != TokenizerKind::kWpm) {
    return InvalidArgumentError("wpm: the vocab is not a WordPiece (bert) vocab");
  }
  if (vocab.tokens.empty()) return InvalidArgumentError("wpm: the vocab has no tokens");
  return std::unique_ptr<Codec>(new WpmCodec(vocab));
}

}  // namespace flotilla
