// SentencePiece-style BPE as llama.cpp runs it (llm_tokenizer_spm): spaces become U+2581, the text is
// split into UTF-8 characters, adjacent pairs that form a vocab token merge highest score first
// (ties: leftmost), and any final piece that is not a token falls back to byte tokens <0xXX>.
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/codec.h"
#include "tokenizer/utf8.h"

namespace flotilla {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

// Replaces every `from` in `s` with `to`.
std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s, pos, std::string_view::npos);
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
    int prev;
    int next;
    size_t start;  // byte offset into the escaped text
    size_t n;      // byte length; 0 once merged into its left neighbour
  };
  struct Bigram {
    int left;
    int right;
    float score;
    size_t size;
  };
  struct BigramLess {  // max-heap order: higher score first, then the leftmost pair
    bool operator()(const Bigram& l, const Bigram& r) const {
      return l.score < r.score || (l.score == r.score && l.left > r.left);
    }
  };
  using Queue = std::priority_queue<Bigram, std::vector<Bigram>, BigramLess>;

  int32_t Find(std::string_view piece) const;
  void TryAddBigram(std::string_view text, const std::vector<Symbol>& symbols, int left, int right,
                    Queue& queue) const;
  void EmitPiece(std::string_view piece, std::vector<int32_t>& out) const;

  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string_view, int32_t> ids_;  // views into tokens_
  int32_t byte_ids_[256];  // byte -> fallback token, -1 when the vocab has none
  int32_t unk_;
  bool add_space_prefix_;
};

SpmCodec::SpmCodec(const Vocab& vocab)
    : tokens_(vocab.tokens), scores_(vocab.scores), types_(vocab.types), unk_(vocab.unk),
      add_space_prefix_(vocab.add_space_prefix) {
  scores_.resize(tokens_.size(), 0.0f);
  types_.resize(tokens_.size(), TokenType::kNormal);
  ids_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], static_cast<int32_t>(i));
  static const char* kHex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char hex[7] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>', 0};
    int32_t id = Find(hex);
    if (id < 0) id = Find(std::string(1, static_cast<char>(b)));  // llama.cpp's second try
    byte_ids_[b] = id;
  }
}

int32_t SpmCodec::Find(std::string_view piece) const {
  auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

void SpmCodec::TryAddBigram(std::string_view text, const std::vector<Symbol>& symbols, int left,
                            int right, Queue& queue) const {
  if (left == -1 || right == -1) return;
  const size_t size = symbols[left].n + symbols[right].n;
  const int32_t id = Find(text.substr(symbols[left].start, size));
  if (id < 0) return;
  queue.push(Bigram{left, right, scores_[id], size});
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

void SpmCodec::Encode(std::string_view raw, bool after_special, std::vector<int32_t>& out) const {
  std::string text;
  if (after_special && add_space_prefix_) text = kSpaceMarker;
  text += ReplaceAll(raw, " ", kSpaceMarker);
  if (text.empty()) return;

  std::vector<Symbol> symbols;
  size_t offset = 0;
  for (size_t n : utf8::SplitChars(text)) {
    const int index = static_cast<int>(symbols.size());
    symbols.push_back(Symbol{index - 1, offset + n == text.size() ? -1 : index + 1, offset, n});
    offset += n;
  }

  Queue queue;
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) TryAddBigram(text, symbols, i - 1, i, queue);
  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) continue;  // stale
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    TryAddBigram(text, symbols, left.prev, bigram.left, queue);
    TryAddBigram(text, symbols, bigram.left, left.next, queue);
  }

  for (int i = 0; i != -1; i = symbols[i].next) {
    EmitPiece(std::string_view(text).substr(symbols[i].start, symbols[i].n), out);
  }
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
