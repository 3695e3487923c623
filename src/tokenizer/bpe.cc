// Byte-level BPE codec. Algorithm (llama.cpp's llm_tokenizer_bpe_session):
//   1. invalid UTF-8 -> U+FFFD (SanitizeUtf8), then the pre-tokenizer splits the text into words;
//   2. with ignore_merges (Llama 3), a word whose byte-level text is a token is emitted as is;
//   3. otherwise each byte becomes one symbol (its byte-level character) and adjacent symbol pairs
//      merge, lowest merge rank first (ties: leftmost), while any pair has a rank;
//   4. each final symbol is emitted as its token; a symbol that is no token falls back to the tokens
//      of the single bytes of its byte-level text, skipping bytes that have none.
// Symbols are interned as integer ids (vocab ids first, then any merge part or result that is no
// token), so a merge is one lookup in a hash table keyed by the pair of ids.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <array>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/codec.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab_index.h"

namespace flotilla {
namespace {

struct ByteTables {
  std::array<std::string, 256> encoded;  // byte -> UTF-8 of its code point
  std::array<int16_t, 0x144> decoded;    // code point -> byte, or -1
  ByteTables() {
    decoded.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const int cp = printable ? b : next++;
      std::string& s = encoded[b];
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      decoded[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteTables& Tables() {
  static const ByteTables tables;
  return tables;
}

// Open-addressing map from a pair of symbol ids to (rank, merged symbol id).
class MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t result = 0;
  };
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    entries_.assign(cap, Entry{});
    mask_ = cap - 1;
  }
  // Keeps the first rank for a repeated pair, as llama.cpp's bpe_ranks.emplace.
  void Insert(int32_t left, int32_t right, int32_t rank, int32_t result) {
    const uint64_t key = Key(left, right);
    for (size_t i = Hash(key);; i = (i + 1) & mask_) {
      if (entries_[i].key == key) return;
      if (entries_[i].key == kEmpty) {
        entries_[i] = {key, rank, result};
        return;
      }
    }
  }
  void Prefetch(int32_t left, int32_t right) const { __builtin_prefetch(&entries_[Hash(Key(left, right))]); }
  const Entry* Find(int32_t left, int32_t right) const {
    const uint64_t key = Key(left, right);
    for (size_t i = Hash(key);; i = (i + 1) & mask_) {
      if (entries_[i].key == key) return &entries_[i];
      if (entries_[i].key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t Key(int32_t l, int32_t r) {
    return (uint64_t{static_cast<uint32_t>(l)} << 32) | static_cast<uint32_t>(r);
  }
  size_t Hash(uint64_t key) const {
    key *= 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(key >> 20) & mask_;
  }
  std::vector<Entry> entries_;
  size_t mask_ = 0;
};

class BpeCodec final : public Codec {
 public:
  static StatusOr<std::unique_ptr<Codec>> Create(const Vocab& vocab);
  void Encode(std::string_view text, bool after_special, std::vector<int32_t>& out) const override;
  std::string DecodeToken(int32_t id) const override;

 private:
  struct Symbol {
    int32_t sym;    // interned id of the symbol's text, -1 when unknown
    int32_t begin;  // byte offset in the word (original bytes)
    int32_t len;    // bytes; 0 once merged into its left neighbour
    int32_t prev, next;
  };
  struct Bigram {
    int32_t rank, left, right, size;
    bool operator<(const Bigram& o) const {  // std::priority_queue pops the largest
      return rank > o.rank || (rank == o.rank && left > o.left);
    }
  };
  struct Scratch {
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
    std::vector<std::string_view> words;
    std::string encoded;
    std::string sanitized;
  };

  Status IndexTokens();
  void IndexMerges(const std::vector<std::string>& merges);
  void EncodeWord(std::string_view word, Scratch& scratch, std::vector<int32_t>& out) const;
  void PushBigram(const std::vector<Symbol>& symbols, int32_t left, int32_t right,
                  std::vector<Bigram>& heap) const;
  void EmitSymbol(std::string_view word, const Symbol& symbol, std::vector<int32_t>& out) const;

  std::unique_ptr<PreTokenizer> pre_;
  std::vector<std::string> tokens_;
  std::deque<std::string> extra_texts_;  // symbols that are no token (a deque: stable addresses)
  int32_t n_vocab_ = 0;
  VocabIndex sym_ids_;  // every known symbol text -> id (< n_vocab_: the token id); views into the above
  MergeTable merges_;
  std::array<int32_t, 256> byte_sym_{};           // byte -> symbol id of its byte-level character
  std::array<int32_t, 256> single_byte_token_{};  // raw byte value -> token of that 1-byte text
};

StatusOr<std::unique_ptr<Codec>> BpeCodec::Create(const Vocab& vocab) {
  if (vocab.kind != TokenizerKind::kBpe) {
    return InvalidArgumentError("BPE codec needs a BPE vocab (tokenizer.ggml.model = gpt2)");
  }
  std::unique_ptr<BpeCodec> codec(new BpeCodec());
  ASSIGN_OR_RETURN(codec->pre_, PreTokenizer::Create(vocab.pre));
  codec->tokens_ = vocab.tokens;
  codec->n_vocab_ = vocab.size();
  RETURN_IF_ERROR(codec->IndexTokens());
  codec->IndexMerges(vocab.merges);
  const ByteTables& tables = Tables();
  for (int b = 0; b < 256; ++b) {
    codec->byte_sym_[b] = codec->sym_ids_.Find(tables.encoded[b]);
    const char byte = static_cast<char>(b);
    const int32_t single = codec->sym_ids_.Find(std::string_view(&byte, 1));
    codec->single_byte_token_[b] = single < codec->n_vocab_ ? single : -1;
  }
  return std::unique_ptr<Codec>(std::move(codec));
}

Status BpeCodec::IndexTokens() {
  sym_ids_.Reserve(tokens_.size() + tokens_.size() / 16 + 16);
  // Empty tokens are skipped: llama.cpp renames them; they can never match text.
  const int32_t dup = sym_ids_.InsertAll(tokens_, /*skip_empty=*/true);
  if (dup >= 0) {
    return InvalidArgumentError("duplicate token in vocabulary: '" + tokens_[dup] + "' has ids " +
                                std::to_string(sym_ids_.Find(tokens_[dup])) + " and " +
                                std::to_string(dup));
  }
  return Status::Ok();
}

// Merges "left right" (highest priority first) into merges_; parts and results that are no token
// become extra symbols with ids n_vocab_, n_vocab_ + 1, ... (in merge order). The lookups are random
// accesses into tables of megabytes, so merges go in batches: hash and prefetch, look up, insert.
void BpeCodec::IndexMerges(const std::vector<std::string>& merges) {
  struct Pending {
    std::string_view left, right;
    std::string joined;
    uint64_t hash_left, hash_right, hash_joined;
    int32_t l, r, result;
  };
  constexpr size_t kBatch = 32;
  std::array<Pending, kBatch> batch;
  int32_t next_extra = n_vocab_;
  auto intern = [&](std::string_view s, uint64_t hash) {
    const int32_t id = sym_ids_.Find(s, hash);
    if (id >= 0) return id;
    sym_ids_.Insert(extra_texts_.emplace_back(s), next_extra);
    return next_extra++;
  };
  merges_.Reserve(merges.size());
  for (size_t base = 0; base < merges.size(); base += kBatch) {
    const size_t n = std::min(kBatch, merges.size() - base);
    for (size_t k = 0; k < n; ++k) {
      Pending& p = batch[k];
      const std::string& merge = merges[base + k];
      // No space after the first byte: llama.cpp keys it as ("", ""), which never matches.
      const size_t space = merge.find(' ', 1);
      p.left = std::string_view(merge).substr(0, space);
      p.right = space == std::string::npos ? std::string_view() : std::string_view(merge).substr(space + 1);
      if (p.right.empty()) continue;
      p.joined.assign(p.left).append(p.right);
      p.hash_left = HashBytes(p.left), p.hash_right = HashBytes(p.right), p.hash_joined = HashBytes(p.joined);
      sym_ids_.Prefetch(p.hash_left), sym_ids_.Prefetch(p.hash_right), sym_ids_.Prefetch(p.hash_joined);
    }
    for (size_t k = 0; k < n; ++k) {
      Pending& p = batch[k];
      if (p.right.empty()) continue;
      p.l = intern(p.left, p.hash_left);
      p.r = intern(p.right, p.hash_right);
      p.result = intern(p.joined, p.hash_joined);
      merges_.Prefetch(p.l, p.r);
    }
    for (size_t k = 0; k < n; ++k) {
      const Pending& p = batch[k];
      if (!p.right.empty()) merges_.Insert(p.l, p.r, static_cast<int32_t>(base + k), p.result);
    }
  }
}

void BpeCodec::Encode(std::string_view text, bool /*after_special*/, std::vector<int32_t>& out) const {
  thread_local Scratch scratch;
  const std::string_view valid = SanitizeUtf8(text, scratch.sanitized);
  scratch.words.clear();
  pre_->Split(valid, scratch.words);
  for (std::string_view word : scratch.words) EncodeWord(word, scratch, out);
}

void BpeCodec::PushBigram(const std::vector<Symbol>& symbols, int32_t left, int32_t right,
                          std::vector<Bigram>& heap) const {
  if (left < 0 || right < 0) return;
  const Symbol& l = symbols[left];
  const Symbol& r = symbols[right];
  if (l.sym < 0 || r.sym < 0) return;
  const MergeTable::Entry* e = merges_.Find(l.sym, r.sym);
  if (e == nullptr) return;
  heap.push_back({e->rank, left, right, l.len + r.len});
  std::push_heap(heap.begin(), heap.end());
}

void BpeCodec::EncodeWord(std::string_view word, Scratch& scratch, std::vector<int32_t>& out) const {
  if (pre_->ignore_merges()) {
    scratch.encoded.clear();
    ByteLevelEncode(word, scratch.encoded);
    const int32_t id = sym_ids_.Find(scratch.encoded);
    if (id >= 0 && id < n_vocab_) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol>& symbols = scratch.symbols;
  std::vector<Bigram>& heap = scratch.heap;
  symbols.clear();
  heap.clear();
  const int32_t n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({byte_sym_[static_cast<uint8_t>(word[i])], i, 1, i - 1, i + 1 < n ? i + 1 : -1});
  }
  for (int32_t i = 1; i < n; ++i) PushBigram(symbols, i - 1, i, heap);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Bigram bigram = heap.back();
    heap.pop_back();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    if (left.len == 0 || right.len == 0 || left.len + right.len != bigram.size) continue;  // stale
    left.sym = merges_.Find(left.sym, right.sym)->result;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    PushBigram(symbols, left.prev, bigram.left, heap);
    PushBigram(symbols, bigram.left, left.next, heap);
  }
  for (int32_t i = 0; i != -1 && i < n; i = symbols[i].next) EmitSymbol(word, symbols[i], out);
}

void BpeCodec::EmitSymbol(std::string_view word, const Symbol& symbol, std::vector<int32_t>& out) const {
  if (symbol.sym >= 0 && symbol.sym < n_vocab_) {
    out.push_back(symbol.sym);
    return;
  }
  // No token for the symbol: the tokens of the single bytes of its byte-level text, when they exist.
  const ByteTables& tables = Tables();
  for (int32_t i = symbol.begin; i < symbol.begin + symbol.len; ++i) {
    for (char c : tables.encoded[static_cast<uint8_t>(word[i])]) {
      const int32_t id = single_byte_token_[static_cast<uint8_t>(c)];
      if (id >= 0) out.push_back(id);
    }
  }
}

std::string BpeCodec::DecodeToken(int32_t id) const {
  if (id < 0 || id >= n_vocab_) return {};
  return ByteLevelDecode(tokens_[id]);
}

}  // namespace

std::string_view ByteToUnicode(uint8_t byte) { return Tables().encoded[byte]; }

void ByteLevelEncode(std::string_view bytes, std::string& out) {
  const ByteTables& tables = Tables();
  for (char c : bytes) out += tables.encoded[static_cast<uint8_t>(c)];
}

std::string ByteLevelDecode(std::string_view text) {
  const ByteTables& tables = Tables();
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<uint8_t>(text[i]);
    size_t n = Utf8SequenceLength(b0);
    uint32_t cp = b0;
    bool ok = i + n <= text.size() && (n > 1 || b0 < 0x80);
    if (ok && n > 1) {
      cp = b0 & (0xFF >> (n + 1));
      for (size_t k = 1; k < n && ok; ++k) {
        const auto b = static_cast<uint8_t>(text[i + k]);
        ok = (b & 0xC0) == 0x80;
        cp = (cp << 6) | (b & 0x3F);
      }
    }
    if (!ok) n = 1;
    if (ok && cp < tables.decoded.size() && tables.decoded[cp] >= 0) {
      out.push_back(static_cast<char>(tables.decoded[cp]));
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

StatusOr<std::unique_ptr<Codec>> CreateBpeCodec(const Vocab& vocab) { return BpeCodec::Create(vocab); }

}  // namespace flotilla
