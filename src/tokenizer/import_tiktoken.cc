// tiktoken BPE files -> Vocab (Llama 3 layout), and the format detection shared by the CLI.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/file_util.h"
#include "tokenizer/bpe.h"
#include "tokenizer/import.h"

namespace flotilla {
namespace {

constexpr int kLlama3SpecialCount = 256;

// Standard base64 with '=' padding; nullopt-like false on any other character or bad length.
bool DecodeBase64(std::string_view in, std::string& out) {
  static const std::array<int8_t, 256> kValues = [] {
    std::array<int8_t, 256> v{};
    v.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) v[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
    return v;
  }();
  out.clear();
  if (in.empty() || in.size() % 4 != 0) return false;
  size_t padding = 0;
  if (in.back() == '=') padding = (in[in.size() - 2] == '=') ? 2 : 1;
  const size_t data_len = in.size() - padding;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < data_len; ++i) {
    const int8_t v = kValues[static_cast<uint8_t>(in[i])];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return !out.empty();
}

// Llama 3's special tokens, in id order after the BPE ranks.
std::vector<std::string> Llama3SpecialTokens() {
  std::vector<std::string> names = {"<|begin_of_text|>",
                                    "<|end_of_text|>",
                                    "<|reserved_special_token_0|>",
                                    "<|reserved_special_token_1|>",
                                    "<|reserved_special_token_2|>",
                                    "<|reserved_special_token_3|>",
                                    "<|start_header_id|>",
                                    "<|end_header_id|>",
                                    "<|reserved_special_token_4|>",
                                    "<|eot_id|>"};
  for (int i = 5; names.size() < kLlama3SpecialCount; ++i) {
    names.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  }
  return names;
}

// Parses "base64 rank" lines into token bytes indexed by rank.
StatusOr<std::vector<std::string>> ParseTiktokenLines(std::string_view content) {
  std::vector<std::pair<int64_t, std::string>> entries;
  size_t line_no = 0;
  std::string bytes;
  while (!content.empty()) {
    const size_t eol = content.find('\n');
    std::string_view line = content.substr(0, eol);
    content = eol == std::string_view::npos ? std::string_view() : content.substr(eol + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    const std::string where = "tiktoken line " + std::to_string(line_no);
    if (space == std::string_view::npos) return InvalidArgumentError(where + ": expected 'base64 rank'");
    if (!DecodeBase64(line.substr(0, space), bytes)) return InvalidArgumentError(where + ": bad base64");
    const std::string_view rank_text = line.substr(space + 1);
    int64_t rank = 0;
    if (rank_text.empty() || rank_text.size() > 9) return InvalidArgumentError(where + ": bad rank");
    for (char c : rank_text) {
      if (c < '0' || c > '9') return InvalidArgumentError(where + ": bad rank");
      rank = rank * 10 + (c - '0');
    }
    entries.emplace_back(rank, bytes);
  }
  if (entries.empty()) return InvalidArgumentError("tiktoken file has no tokens");
  std::vector<std::string> by_rank(entries.size());
  std::vector<bool> seen(entries.size(), false);
  for (auto& [rank, token] : entries) {
    if (rank >= static_cast<int64_t>(entries.size()) || seen[rank]) {
      return InvalidArgumentError("tiktoken ranks must be 0.." + std::to_string(entries.size() - 1) +
                                  " without gaps or repeats; bad rank " + std::to_string(rank));
    }
    seen[rank] = true;
    by_rank[rank] = std::move(token);
  }
  return by_rank;
}

// Hugging Face's merge extraction: every split of a token into two tokens, ordered by the merged
// token's rank, then by the parts' ranks.
std::vector<std::string> DeriveMerges(const std::vector<std::string>& by_rank,
                                      const std::unordered_map<std::string_view, int32_t>& ranks) {
  std::vector<std::string> merges;
  std::vector<std::pair<std::pair<int32_t, int32_t>, size_t>> local;
  std::string left, right;
  for (const std::string& token : by_rank) {
    if (token.size() < 2) continue;
    local.clear();
    const std::string_view t(token);
    for (size_t i = 1; i < t.size(); ++i) {
      auto l = ranks.find(t.substr(0, i));
      if (l == ranks.end()) continue;
      auto r = ranks.find(t.substr(i));
      if (r == ranks.end()) continue;
      local.push_back({{l->second, r->second}, i});
    }
    std::sort(local.begin(), local.end());
    for (const auto& [parts, split] : local) {
      left.clear();
      right.clear();
      ByteLevelEncode(t.substr(0, split), left);
      ByteLevelEncode(t.substr(split), right);
      merges.push_back(left + " " + right);
    }
  }
  return merges;
}

}  // namespace

StatusOr<Vocab> ImportTiktokenText(std::string_view content) {
  ASSIGN_OR_RETURN(std::vector<std::string> by_rank, ParseTiktokenLines(content));
  std::unordered_map<std::string_view, int32_t> ranks;
  ranks.reserve(by_rank.size());
  for (size_t i = 0; i < by_rank.size(); ++i) {
    if (!ranks.emplace(by_rank[i], static_cast<int32_t>(i)).second) {
      return InvalidArgumentError("tiktoken file repeats a token (rank " + std::to_string(i) + ")");
    }
  }
  Vocab vocab;
  vocab.kind = TokenizerKind::kBpe;
  vocab.pre = "llama-bpe";
  vocab.merges = DeriveMerges(by_rank, ranks);
  vocab.tokens.reserve(by_rank.size() + kLlama3SpecialCount);
  for (const std::string& token : by_rank) {
    std::string encoded;
    ByteLevelEncode(token, encoded);
    vocab.tokens.push_back(std::move(encoded));
  }
  vocab.types.assign(by_rank.size(), TokenType::kNormal);
  const int32_t first_special = static_cast<int32_t>(by_rank.size());
  for (std::string& name : Llama3SpecialTokens()) {
    vocab.tokens.push_back(std::move(name));
    vocab.types.push_back(TokenType::kControl);
  }
  vocab.bos = first_special;      // <|begin_of_text|>
  vocab.eos = first_special + 1;  // <|end_of_text|>
  vocab.eot = first_special + 9;  // <|eot_id|>
  vocab.add_bos = true;
  vocab.add_eos = false;
  vocab.clean_spaces = true;  // llama.cpp's setting for the llama-bpe pre type
  return vocab;
}

StatusOr<Vocab> ImportTiktoken(const std::string& path) {
  ASSIGN_OR_RETURN(std::string content, ReadFileToString(path));
  StatusOr<Vocab> vocab = ImportTiktokenText(content);
  if (!vocab.ok()) return vocab.status().WithContext(path);
  return vocab;
}

StatusOr<Vocab> ImportVocabText(std::string_view content) {
  const size_t first = content.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return InvalidArgumentError("empty vocab file");
  if (content[first] == '{') return ImportHfTokenizerJsonText(content);
  // tiktoken: the first line is "base64 number".
  const std::string_view line = content.substr(first, content.find('\n', first) - first);
  const size_t space = line.find(' ');
  std::string bytes;
  if (space != std::string_view::npos && DecodeBase64(line.substr(0, space), bytes)) {
    return ImportTiktokenText(content);
  }
  return InvalidArgumentError(
      "unrecognized vocab file: expected a Hugging Face tokenizer.json (a JSON object) or a "
      "tiktoken BPE file (lines of 'base64 rank')");
}

StatusOr<Vocab> ImportVocabFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string content, ReadFileToString(path));
  StatusOr<Vocab> vocab = ImportVocabText(content);
  if (!vocab.ok()) return vocab.status().WithContext(path);
  return vocab;
}

}  // namespace flotilla
