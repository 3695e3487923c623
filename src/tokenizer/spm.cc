// SentencePiece-style BPE as llama.cpp runs it (llm_tokenizer_spm): spaces become U+2581, the text is
// split into UTF-8 characters, adjacent pairs that form a vocab token merge highest score first
// (ties: leftmost), and any final piece that is not a token falls back to byte tokens <0xXX>.
// llama.cpp runs one merge queue over the whole text; we cut the text where two adjacent characters
// occur together in no token (e.g. "e" + U+2581 in most vocabs): no merge can cross such a cut, so
// each segment's merges are exactly the whole-text merges restricted to it, and the ids are the same.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/codec.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_index.h"

namespace flotilla {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

// Appends `s` with every `from` replaced by `to` to `out`.
void ReplaceAll(std::string_view s, std::string_view from, std::string_view to, std::string& out) {
  out.reserve(out.size() + s.size() + s.size() / 2);
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s, pos, std::string_view::npos);
}

std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  ReplaceAll(s, from, to, out);
  return out;
}

// Parses "<0xXX>" into its byte value; -1 when `text` is not of that form.
int ParseByteToken(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10
          : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    value = value * 16 + d;
  }
  return value;
}

class SpmCodec final : public Codec {
 public:
  explicit SpmCodec(const Vocab& vocab);
  void Encode(std::string_view text, bool after_special, std::vector<int32_t>& out) const override;
  std::string DecodeToken(int32_t id) const override;

 private:
  struct Symbol {
    int32_t prev;
    int32_t next;
    uint32_t start;  // byte offset into the segment
    uint32_t n;      // byte length; 0 once merged into its left neighbour
    int32_t id;      // the token of the symbol's text, -1 when there is none
    int32_t cls;     // CharClass of a single character, -1 once merged
  };
  struct Bigram {
    float score;
    int32_t left;
    int32_t right;
    uint32_t size;
    int32_t id;  // the token of the pair's text
    // Heap order: higher score first, then the leftmost pair.
    bool operator<(const Bigram& o) const {
      return score < o.score || (score == o.score && left > o.left);
    }
  };
  // Within one long Encode call a segment (mostly a word with its space) repeats often; its ids
  // depend on its bytes only, so a repeat copies the ids its first occurrence appended to `out`.
  struct SegmentCache {
    VocabIndex index;  // segment text (a view into the call's text) -> index into spans
    std::vector<std::pair<size_t, size_t>> spans;  // [begin, begin + size) in `out`
  };
  static constexpr size_t kCacheMinBytes = 4096;  // shorter texts are encoded without the cache
  struct Scratch {
    std::string text;  // the escaped text
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
  };

  int32_t Find(std::string_view piece) const { return index_.Find(piece); }
  void InitCharTables();
  bool Joins(int prev_cls, int cur_cls) const;
  void EncodeSegment(std::string_view segment, Scratch& scratch, std::vector<int32_t>& out) const;
  void EncodeCached(std::string_view segment, Scratch& scratch, SegmentCache* cache,
                    std::vector<int32_t>& out) const;
  void TryAddBigram(std::string_view segment, const std::vector<Symbol>& symbols, int left, int right,
                    std::vector<Bigram>& heap) const;
  void EmitPiece(std::string_view piece, int32_t id, std::vector<int32_t>& out) const;

  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  VocabIndex index_;  // views into tokens_
  int32_t byte_ids_[256];  // byte -> fallback token, -1 when the vocab has none
  int32_t unk_;
  bool add_space_prefix_;
  // Characters of class 0-127 (an ASCII byte) and 128 (U+2581) have tables: char_ids_[c] is the
  // token of the character, pair_ids_[a * kClasses + b] the token of the pair, -1 when none.
  // joins_[a * kClasses + b]: some token contains the two characters in a row. Where two adjacent
  // characters cannot be part of one token, no merge can ever cross between them, so the text is
  // encoded in independent segments cut there.
  static constexpr int kClasses = 129;
  std::vector<int32_t> char_ids_;
  std::vector<int32_t> pair_ids_;
  std::vector<uint8_t> joins_;
};

SpmCodec::SpmCodec(const Vocab& vocab)
    : tokens_(vocab.tokens), scores_(vocab.scores), types_(vocab.types), unk_(vocab.unk),
      add_space_prefix_(vocab.add_space_prefix) {
  scores_.resize(tokens_.size(), 0.0f);
  types_.resize(tokens_.size(), TokenType::kNormal);
  index_.InsertAll(tokens_, /*skip_empty=*/false);
  static const char* kHex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char hex[7] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>', 0};
    int32_t id = Find(hex);
    if (id < 0) id = Find(std::string(1, static_cast<char>(b)));  // llama.cpp's second try
    byte_ids_[b] = id;
  }
  InitCharTables();
}

void SpmCodec::InitCharTables() {
  auto text_of = [](int cls) {
    return cls < 128 ? std::string(1, static_cast<char>(cls)) : std::string(kSpaceMarker);
  };
  char_ids_.resize(kClasses);
  pair_ids_.resize(kClasses * kClasses);
  for (int a = 0; a < kClasses; ++a) {
    char_ids_[a] = Find(text_of(a));
    for (int b = 0; b < kClasses; ++b) pair_ids_[a * kClasses + b] = Find(text_of(a) + text_of(b));
  }
  joins_.assign(kClasses * kClasses, 0);
  for (const std::string& token : tokens_) {
    int prev = -1;
    for (size_t i = 0; i < token.size(); ++i) {
      const std::string_view rest = std::string_view(token).substr(i);
      const int cls = rest.starts_with(kSpaceMarker)              ? 128
                      : static_cast<uint8_t>(token[i]) < 128 ? token[i]
                                                             : -1;
      if (prev >= 0 && cls >= 0) joins_[prev * kClasses + cls] = 1;
      prev = cls;
      if (cls == 128) i += kSpaceMarker.size() - 1;
    }
  }
}

// Whether two adjacent characters may end up in one token. Conservative: true unless both have a
// class and no token holds the pair.
bool SpmCodec::Joins(int prev_cls, int cur_cls) const {
  return prev_cls < 0 || cur_cls < 0 || joins_[prev_cls * kClasses + cur_cls] != 0;
}

void SpmCodec::TryAddBigram(std::string_view segment, const std::vector<Symbol>& symbols, int left,
                            int right, std::vector<Bigram>& heap) const {
  if (left == -1 || right == -1) return;
  const Symbol& l = symbols[left];
  const Symbol& r = symbols[right];
  const uint32_t size = l.n + r.n;
  const int32_t id = l.cls >= 0 && r.cls >= 0 ? pair_ids_[l.cls * kClasses + r.cls]
                                              : Find(segment.substr(l.start, size));
  if (id < 0) return;
  heap.push_back(Bigram{scores_[id], left, right, size, id});
  std::push_heap(heap.begin(), heap.end());
}

// A final piece: its token `id`, or one fallback token per byte (unk when the vocab has no byte
// tokens, dropped when it has no unk either).
void SpmCodec::EmitPiece(std::string_view piece, int32_t id, std::vector<int32_t>& out) const {
  if (id >= 0) {
    out.push_back(id);
    return;
  }
  for (char c : piece) {
    const int32_t b = byte_ids_[static_cast<uint8_t>(c)];
    if (b >= 0) {
      out.push_back(b);
    } else if (unk_ >= 0) {
      out.push_back(unk_);
    }
  }
}

// llama.cpp's merge loop over the characters of one segment (scratch.symbols, linked in order).
void SpmCodec::EncodeSegment(std::string_view segment, Scratch& scratch, std::vector<int32_t>& out) const {
  std::vector<Symbol>& symbols = scratch.symbols;
  std::vector<Bigram>& heap = scratch.heap;
  heap.clear();
  symbols.back().next = -1;
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) TryAddBigram(segment, symbols, i - 1, i, heap);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Bigram bigram = heap.back();
    heap.pop_back();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) continue;  // stale
    left.n += right.n;
    left.id = bigram.id;
    left.cls = -1;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    TryAddBigram(segment, symbols, left.prev, bigram.left, heap);
    TryAddBigram(segment, symbols, bigram.left, left.next, heap);
  }
  for (int i = 0; i != -1; i = symbols[i].next) {
    EmitPiece(segment.substr(symbols[i].start, symbols[i].n), symbols[i].id, out);
  }
}

void SpmCodec::EncodeCached(std::string_view segment, Scratch& scratch, SegmentCache* cache,
                            std::vector<int32_t>& out) const {
  if (cache == nullptr || scratch.symbols.size() < 2) {
    EncodeSegment(segment, scratch, out);
    return;
  }
  const auto [slot, inserted] = cache->index.Insert(segment, static_cast<int32_t>(cache->spans.size()));
  if (!inserted) {
    const auto [begin, size] = cache->spans[slot];
    for (size_t k = 0; k < size; ++k) {
      const int32_t id = out[begin + k];
      out.push_back(id);
    }
    return;
  }
  const size_t begin = out.size();
  EncodeSegment(segment, scratch, out);
  cache->spans.emplace_back(begin, out.size() - begin);
}

void SpmCodec::Encode(std::string_view raw, bool after_special, std::vector<int32_t>& out) const {
  thread_local Scratch scratch;
  std::string& text = scratch.text;
  text.clear();
  if (after_special && add_space_prefix_) text = kSpaceMarker;
  ReplaceAll(raw, " ", kSpaceMarker, text);
  if (text.empty()) return;

  // Characters as llama.cpp splits them (utf8::SeqLen, clamped); a segment ends where the next
  // character cannot join the previous one in any token.
  std::vector<Symbol>& symbols = scratch.symbols;
  symbols.clear();
  std::unique_ptr<SegmentCache> cache;
  if (text.size() >= kCacheMinBytes) cache = std::make_unique<SegmentCache>();
  size_t seg_begin = 0;
  int prev_cls = -1;
  for (size_t offset = 0; offset < text.size();) {
    const size_t n = std::min(utf8::SeqLen(text[offset]), text.size() - offset);
    const std::string_view c = std::string_view(text).substr(offset, n);
    const int cls = n == 1 && static_cast<uint8_t>(c[0]) < 128 ? c[0] : c == kSpaceMarker ? 128 : -1;
    if (offset > seg_begin && !Joins(prev_cls, cls)) {
      EncodeCached(std::string_view(text).substr(seg_begin, offset - seg_begin), scratch, cache.get(), out);
      symbols.clear();
      seg_begin = offset;
    }
    const int index = static_cast<int>(symbols.size());
    symbols.push_back(Symbol{index - 1, index + 1, static_cast<uint32_t>(offset - seg_begin),
                             static_cast<uint32_t>(n), cls >= 0 ? char_ids_[cls] : Find(c), cls});
    prev_cls = cls;
    offset += n;
  }
  EncodeCached(std::string_view(text).substr(seg_begin), scratch, cache.get(), out);
}

std::string SpmCodec::DecodeToken(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(tokens_.size())) return "";
  const std::string& text = tokens_[id];
  if (types_[id] == TokenType::kByte) {
    const int byte = ParseByteToken(text);
    return byte >= 0 ? std::string(1, static_cast<char>(byte)) : text;
  }
  return ReplaceAll(text, kSpaceMarker, " ");
}

}  // namespace

StatusOr<std::unique_ptr<Codec>> CreateSpmCodec(const Vocab& vocab) {
  if (vocab.kind != TokenizerKind::kSpm) {
    return InvalidArgumentError("spm: the vocab is not a SentencePiece (llama) vocab");
  }
  if (vocab.tokens.empty()) return InvalidArgumentError("spm: the vocab has no tokens");
  if (!vocab.scores.empty() && vocab.scores.size() != vocab.tokens.size()) {
    return InvalidArgumentError("spm: " + std::to_string(vocab.scores.size()) + " scores for " +
                                std::to_string(vocab.tokens.size()) + " tokens");
  }
  return std::unique_ptr<Codec>(new SpmCodec(vocab));
}

}  // namespace flotilla
