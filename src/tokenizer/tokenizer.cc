// The Tokenizer facade: special-token partitioning, BOS/EOS/SEP, token attributes and decoding,
// following llama.cpp's llama_vocab (tokenize, tokenizer_st_partition, token_to_piece, detokenize).
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <functional>
#include <span>
#include <string_view>
#include <utility>

#include "tokenizer/vocab_index.h"

namespace flotilla {
namespace {

// llama.cpp's llama_token_attr bits.
enum Attr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 7,
  kAttrRstrip = 1u << 8,
};

uint32_t AttrFromType(TokenType type) {
  switch (type) {
    case TokenType::kUnknown: return kAttrUnknown;
    case TokenType::kUnused: return kAttrUnused;
    case TokenType::kNormal: return kAttrNormal;
    case TokenType::kControl: return kAttrControl;
    case TokenType::kUserDefined: return kAttrUserDefined;
    case TokenType::kByte: return kAttrByte;
    case TokenType::kUndefined: return kAttrUndefined;
  }
  return kAttrUndefined;
}

// Texts that llama.cpp treats as end-of-generation (and forces to CONTROL).
constexpr std::array<std::string_view, 22> kEogTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", "[e~["};

// Fill-in-the-middle tokens llama.cpp finds by text and forces to CONTROL (one per group, first
// found); the pad, repo and file-separator groups also end generation.
struct FimGroup {
  std::array<std::string_view, 8> texts;
  bool eog;
};
constexpr std::array<FimGroup, 6> kFimGroups = {{
    {{"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
      "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>", "\xE2\x96\x81<PRE>",
      "<|code_prefix|>", "<|prefix|>"}, false},
    {{"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
      "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", "<SUF>", "\xE2\x96\x81<SUF>",
      "<|code_suffix|>", "<|suffix|>"}, false},
    {{"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
      "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>", "\xE2\x96\x81<MID>",
      "<|code_middle|>", "<|middle|>"}, false},
    {{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}, true},
    {{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}, true},
    {{"<|file_sep|>"}, true},
}};

// gpt-oss tokens that always render (user-defined).
constexpr std::array<std::string_view, 4> kAlwaysRenderedTexts = {"<|channel|>", "<|message|>",
                                                                  "<|start|>", "<|constrain|>"};
// Tokens whose strip attributes depend on the model; the last three lose rstrip on phi-3.
constexpr std::array<std::string_view, 6> kStripTextsArray = {"<mask>", "[MASK]", "</s>",
                                                              "<unk>", "<s>", "<|endoftext|>"};
constexpr std::span<const std::string_view> kStripTexts(kStripTextsArray);

// Finds tokens by text for the attribute rules above: the ids of all the texts those rules name
// come from one pass over the vocab (tokens whose first byte starts no such text are skipped without
// hashing), instead of indexing every token. The first id wins for a repeated text, as in
// llama.cpp's token_to_id map. Any other text falls back to a linear search.
class TextFinder {
 public:
  explicit TextFinder(const std::vector<std::string>& tokens) : tokens_(tokens) {
    auto want = [this](std::string_view text) {
      if (text.empty() || !index_.Insert(text, static_cast<int32_t>(ids_.size())).second) return;
      ids_.push_back(-1);
      first_bytes_[static_cast<uint8_t>(text[0])] = true;
      max_size_ = std::max(max_size_, text.size());
    };
    for (std::string_view text : kEogTexts) want(text);
    for (const FimGroup& group : kFimGroups) {
      for (std::string_view text : group.texts) want(text);
    }
    for (std::string_view text : kAlwaysRenderedTexts) want(text);
    for (std::string_view text : kStripTexts) want(text);
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string& token = tokens[i];
      if (token.empty() || token.size() > max_size_ || !first_bytes_[static_cast<uint8_t>(token[0])]) continue;
      const int32_t slot = index_.Find(token);
      if (slot >= 0 && ids_[slot] < 0) ids_[slot] = static_cast<int32_t>(i);
    }
  }
  // The first id of the token `text`, or -1.
  int32_t Find(std::string_view text) const {
    if (const int32_t slot = index_.Find(text); slot >= 0) return ids_[slot];
    auto it = std::find(tokens_.begin(), tokens_.end(), text);
    return it == tokens_.end() ? -1 : static_cast<int32_t>(it - tokens_.begin());
  }

 private:
  const std::vector<std::string>& tokens_;
  VocabIndex index_;          // wanted text -> index into ids_
  std::vector<int32_t> ids_;  // -1 until found
  std::array<bool, 256> first_bytes_{};
  size_t max_size_ = 0;
};

bool IsCSpace(char c) {  // C-locale isspace, as llama.cpp's strip attributes use it
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string Lowercase(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

Status ValidateVocab(Vocab& v) {
  if (v.tokens.empty()) return InvalidArgumentError("tokenizer: the vocab has no tokens");
  if (v.types.empty()) v.types.assign(v.tokens.size(), TokenType::kNormal);
  if (v.types.size() != v.tokens.size()) {
    return InvalidArgumentError("tokenizer: " + std::to_string(v.types.size()) + " token types for " +
                                std::to_string(v.tokens.size()) + " tokens");
  }
  if (!v.scores.empty() && v.scores.size() != v.tokens.size()) {
    return InvalidArgumentError("tokenizer: " + std::to_string(v.scores.size()) + " scores for " +
                                std::to_string(v.tokens.size()) + " tokens");
  }
  const std::pair<const char*, int32_t> ids[] = {{"bos", v.bos}, {"eos", v.eos}, {"unk", v.unk},
                                                 {"pad", v.pad}, {"sep", v.sep}, {"cls", v.cls},
                                                 {"mask", v.mask}, {"eot", v.eot}, {"eom", v.eom}};
  for (const auto& [name, id] : ids) {
    if (id < -1 || id >= v.size()) {
      return OutOfRangeError("tokenizer: " + std::string(name) + " id " + std::to_string(id) +
                             " is outside the vocab of " + std::to_string(v.size()) + " tokens");
    }
  }
  if (v.add_bos && v.bos < 0) return InvalidArgumentError("tokenizer: add_bos is set but there is no bos id");
  if (v.add_eos && v.eos < 0) return InvalidArgumentError("tokenizer: add_eos is set but there is no eos id");
  if (v.kind == TokenizerKind::kWpm && (v.bos < 0 || v.sep < 0)) {
    return InvalidArgumentError("tokenizer: a WordPiece vocab needs bos ([CLS]) and sep ([SEP]) ids");
  }
  return Status::Ok();
}

}  // namespace

Tokenizer::Tokenizer(Vocab vocab, std::unique_ptr<Codec> codec)
    : vocab_(std::move(vocab)), codec_(std::move(codec)) {
  InitAttributes();
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Create(Vocab vocab) {
  RETURN_IF_ERROR(ValidateVocab(vocab));
  StatusOr<std::unique_ptr<Codec>> codec = UnimplementedError("tokenizer: unknown kind");
  switch (vocab.kind) {
    case TokenizerKind::kSpm: codec = CreateSpmCodec(vocab); break;
    case TokenizerKind::kBpe: codec = CreateBpeCodec(vocab); break;
    case TokenizerKind::kWpm: codec = CreateWpmCodec(vocab); break;
  }
  if (!codec.ok()) return codec.status();
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(vocab), std::move(*codec)));
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const gguf::File& file) {
  ASSIGN_OR_RETURN(Vocab vocab, Vocab::FromGguf(file));
  return Create(std::move(vocab));
}

// Token attributes as llama.cpp derives them at load time: the file's types, CONTROL forced on
// end-of-generation and fill-in-the-middle tokens found by text, then per-model strip flags.
void Tokenizer::InitAttributes() {
  const int32_t n = vocab_.size();
  const TextFinder finder(vocab_.tokens);
  auto find = [&](std::string_view text) -> int32_t { return finder.Find(text); };
  attrs_.resize(n);
  for (int32_t i = 0; i < n; ++i) attrs_[i] = AttrFromType(vocab_.types[i]);

  std::vector<int32_t> eog;
  for (const FimGroup& group : kFimGroups) {
    for (std::string_view text : group.texts) {
      const int32_t id = text.empty() ? -1 : find(text);
      if (id < 0) continue;
      attrs_[id] |= kAttrControl;
      if (group.eog) eog.push_back(id);
      break;
    }
  }
  for (std::string_view text : kEogTexts) {
    if (const int32_t id = find(text); id >= 0) {
      attrs_[id] |= kAttrControl;
      eog.push_back(id);
    }
  }
  for (std::string_view text : kAlwaysRenderedTexts) {
    if (const int32_t id = find(text); id >= 0) attrs_[id] = kAttrUserDefined;  // gpt-oss: always rendered
  }
  for (int32_t id : {vocab_.eos, vocab_.eot, vocab_.eom}) {
    if (id >= 0) eog.push_back(id);
  }
  // o200k_harmony: with <|return|> and <|call|> present, <|end|> is not the end of generation.
  const int32_t end = find("<|end|>");
  if (end >= 0 && find("<|return|>") >= 0 && find("<|call|>") >= 0) {
    eog.erase(std::remove(eog.begin(), eog.end(), end), eog.end());
    attrs_[end] = kAttrUserDefined;
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  eog_ids_ = std::move(eog);

  for (int32_t i = 0; i < n; ++i) {
    if (attrs_[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) special_ids_.push_back(i);
  }
  std::stable_sort(special_ids_.begin(), special_ids_.end(), [&](int32_t a, int32_t b) {
    return vocab_.tokens[a].size() > vocab_.tokens[b].size();
  });
  InitStripAttributes(find);
}

// llama.cpp keys these on the model's name, pre-tokenizer and architecture (its only source of
// lstrip/rstrip, which GGUF does not store).
void Tokenizer::InitStripAttributes(const std::function<int32_t(std::string_view)>& find) {
  auto set_attr = [&](std::string_view text, uint32_t bit, bool on) {
    const int32_t id = find(text);
    if (id >= 0) attrs_[id] = on ? (attrs_[id] | bit) : (attrs_[id] & ~bit);
  };
  const std::string name = Lowercase(vocab_.model_name);
  if (vocab_.pre.find("jina-v2-") != std::string::npos ||
      vocab_.architecture.find("nomic-bert-moe") != std::string::npos ||
      vocab_.architecture.find("jina-bert-v3") != std::string::npos) {
    set_attr("<mask>", kAttrLstrip, true);
  } else if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id : special_ids_) attrs_[id] |= kAttrRstrip;
    set_attr("</s>", kAttrRstrip, true);
    for (std::string_view t : kStripTexts.subspan(3)) set_attr(t, kAttrRstrip, false);
  } else if (name.find("modern-bert") != std::string::npos) {
    set_attr("[MASK]", kAttrLstrip, true);
  }
}

bool Tokenizer::IsEog(int32_t id) const {
  return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

// Splits raw fragments on each special token in turn (longest first), as llama.cpp's
// tokenizer_st_partition: control and unknown tokens only when parse_special, user-defined tokens
// always; LSTRIP/RSTRIP tokens swallow the whitespace next to them.
void Tokenizer::Partition(std::string_view text, bool parse_special,
                          std::vector<Fragment>& fragments) const {
  std::vector<Fragment> next;
  for (int32_t id : special_ids_) {
    const uint32_t attr = attrs_[id];
    if (!parse_special && (attr & (kAttrControl | kAttrUnknown))) continue;
    const std::string& tok = vocab_.tokens[id];
    next.clear();
    for (const Fragment& frag : fragments) {
      if (frag.token >= 0) {
        next.push_back(frag);
        continue;
      }
      size_t off = frag.offset, len = frag.length;
      while (true) {
        const size_t match = text.substr(0, off + len).find(tok, off);
        if (match == std::string_view::npos) {
          if (len > 0) next.push_back(Fragment{-1, off, len});
          break;
        }
        size_t left_len = match - off;
        if (attr & kAttrLstrip) {
          while (left_len > 0 && IsCSpace(text[off + left_len - 1])) --left_len;
        }
        if (left_len > 0) next.push_back(Fragment{-1, off, left_len});
        next.push_back(Fragment{id, 0, 0});
        const size_t end = match + tok.size();
        if (end >= off + len) break;
        size_t right_off = end, right_len = off + len - end;
        if (attr & kAttrRstrip) {
          while (right_len > 0 && IsCSpace(text[right_off])) ++right_off, --right_len;
        }
        off = right_off;
        len = right_len;
      }
    }
    fragments.swap(next);
  }
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<Fragment> fragments;
  if (!text.empty()) {
    fragments.push_back(Fragment{-1, 0, text.size()});
    Partition(text, parse_special, fragments);
  }
  std::vector<int32_t> out;
  const bool wpm = vocab_.kind == TokenizerKind::kWpm;
  // WPM always frames with [CLS] ... [SEP]; the others follow add_bos / add_eos.
  if (add_special && (wpm || vocab_.add_bos) && vocab_.bos >= 0) out.push_back(vocab_.bos);
  bool after_special = true;  // the first fragment counts as following a special token
  for (const Fragment& frag : fragments) {
    if (frag.token >= 0) {
      out.push_back(frag.token);
      after_special = true;
    } else {
      codec_->Encode(text.substr(frag.offset, frag.length), after_special, out);
      after_special = false;
    }
  }
  if (add_special) {
    if (wpm) {
      if (vocab_.sep >= 0) out.push_back(vocab_.sep);
    } else if (vocab_.add_eos && vocab_.eos >= 0) {
      out.push_back(vocab_.eos);
    }
  }
  return out;
}

std::string Tokenizer::TokenToPiece(int32_t id, bool render_special) const {
  if (id < 0 || id >= vocab_.size()) return "";
  const uint32_t attr = attrs_[id];
  if (attr & (kAttrUnknown | kAttrControl)) return render_special ? vocab_.tokens[id] : "";
  if (attr & kAttrUserDefined) return vocab_.tokens[id];
  if (attr & (kAttrNormal | kAttrByte)) return codec_->DecodeToken(id);
  return "";  // unused and undefined tokens render as nothing
}

namespace {

// llama.cpp's clean_spaces passes over detokenized text, run in place exactly as llama.cpp runs them:
// " ?" " !" " ." " ," lose the space; a lone " ' " loses both spaces; " 's" " 'm" " 're" " 've" lose
// the space.
std::string CleanSpaces(std::string s) {
  auto pass = [&s](auto&& step) {
    const size_t n = s.size();
    size_t total = n ? 1 : 0;
    for (size_t i = 1; i < n; ++i) step(i, n, total);
    s.resize(total);
  };
  pass([&s](size_t& i, size_t, size_t& total) {
    const char x = s[i];
    if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
    s[total++] = x;
  });
  pass([&s](size_t& i, size_t n, size_t& total) {
    const char x = s[i];
    if (x == '\'' && i + 1 < n && s[i - 1] == ' ' && s[i + 1] == ' ') {
      --total;
      s[++i] = '\0';
    }
    s[total++] = x;
  });
  pass([&s](size_t& i, size_t n, size_t& total) {
    const char x = s[i];
    if (s[i - 1] == ' ' && x == '\'' && i + 1 < n) {
      const char x1 = s[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --total;
      } else if (x1 != 't' && x1 != 'd' && i + 2 < n) {
        const char x2 = s[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
      }
    }
    s[total++] = x;
  });
  return s;
}

}  // namespace

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool render_special) const {
  std::string out;
  bool remove_space = vocab_.add_space_prefix;
  for (int32_t id : ids) {
    std::string piece = TokenToPiece(id, render_special);
    if (remove_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    remove_space = false;
    out += piece;
  }
  return vocab_.clean_spaces ? CleanSpaces(std::move(out)) : out;
}

}  // namespace flotilla
