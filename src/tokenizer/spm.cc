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
  };
  struct Bigram {
    float score;
    int32_t left;
    int32_t right;
    uint32_t size;
    // Heap order: higher score first, then the leftmost pair.
    bool operator<(const Bigram& o) const {
      return score < o.score || (score == o.score && left > o.left);
    }
  };
  struct Scratch {
    std::string text;  // the escaped text
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
  };

  int32_t Find(std::string_view piece) const { return index_.Find(piece); }
  void InitJoins();
  bool Joins(std::string_view text, size_t prev, size_t cur, size_t cur_len) const;
  void EncodeSegment(std::string_view segment, Scratch& scratch, std::vector<int32_t>& out) const;
  void TryAddBigram(std::string_view segment, const std::vector<Symbol>& symbols, int left, int right,
                    std::vector<Bigram>& heap) const;
  void EmitPiece(std::string_view piece, std::vector<int32_t>& out) const;

  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  VocabIndex index_;  // views into tokens_
  int32_t byte_ids_[256];  // byte -> fallback token, -1 when the vocab has none
  int32_t unk_;
  bool add_space_prefix_;
  // joins_[a * kJoinCols + b]: some token contains ASCII byte a followed by ASCII byte b (b < 128) or
  // by U+2581 (b == 128). Where two adjacent characters cannot be part of one token, no merge can
  // ever cross between them, so the text is encoded in independent segments cut there.
  static constexpr int kJoinCols = 129;
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
  InitJoins();
}

void SpmCodec::InitJoins() {
  joins_.assign(128 * kJoinCols, 0);
  for (const std::string& token : tokens_) {
    for (size_t i = 0; i + 1 < token.size(); ++i) {
      const auto a = static_cast<uint8_t>(token[i]);
      if (a >= 128) continue;
      const auto b = static_cast<uint8_t>(token[i + 1]);
      if (b < 128) joins_[a * kJoinCols + b] = 1;
      if (token.compare(i + 1, kSpaceMarker.size(), kSpaceMarker) == 0) joins_[a * kJoinCols + 128] = 1;
    }
  }
}

// Whether the character at `cur` (`cur_len` bytes) may end up in one token with the character at
// `prev` before it. Conservative: true unless both are known and no token holds the pair.
bool SpmCodec::Joins(std::string_view text, size_t prev, size_t cur, size_t cur_len) const {
  const auto a = static_cast<uint8_t>(text[prev]);
  if (cur - prev != 1 || a >= 128) return true;
  const auto b = static_cast<uint8_t>(text[cur]);
  if (cur_len == 1 && b < 128) return joins_[a * kJoinCols + b] != 0;
  if (text.substr(cur, cur_len) == kSpaceMarker) return joins_[a * kJoinCols + 128] != 0;
  return true;
}

void SpmCodec::TryAddBigram(std::string_view segment, const std::vector<Symbol>& symbols, int left,
                            int right, std::vector<Bigram>& heap) const {
  if (left == -1 || right == -1) return;
  const uint32_t size = symbols[left].n + symbols[right].n;
  const int32_t id = Find(segment.substr(symbols[left].start, size));
  if (id < 0) return;
  heap.push_back(Bigram{scores_[id], left, right, size});
  std::push_heap(heap.begin(), heap.end());
}

// A final piece: its token, or one fallback token per byte (unk when the vocab has no byte tokens,
// dropped when it has no unk either).
void SpmCodec::EmitPiece(std::string_view piece, std::vector<int32_t>& out) const {
  const int32_t id = Find(piece);
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
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    TryAddBigram(segment, symbols, left.prev, bigram.left, heap);
    TryAddBigram(segment, symbols, bigram.left, left.next, heap);
  }
  for (int i = 0; i != -1; i = symbols[i].next) {
    EmitPiece(segment.substr(symbols[i].start, symbols[i].n), out);
  }
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
  size_t seg_begin = 0, prev = 0;
  for (size_t offset = 0; offset < text.size();) {
    const size_t n = std::min(utf8::SeqLen(text[offset]), text.size() - offset);
    if (offset > seg_begin && !Joins(text, prev, offset, n)) {
      EncodeSegment(std::string_view(text).substr(seg_begin, offset - seg_begin), scratch, out);
      symbols.clear();
      seg_begin = offset;
    }
    const int index = static_cast<int>(symbols.size());
    symbols.push_back(Symbol{index - 1, index + 1, static_cast<uint32_t>(offset - seg_begin),
                             static_cast<uint32_t>(n)});
    prev = offset;
    offset += n;
  }
  EncodeSegment(std::string_view(text).substr(seg_begin), scratch, out);
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
