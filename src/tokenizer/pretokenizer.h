// Pre-tokenizers for byte-level BPE: the regex splits that llama.cpp applies for each value of
// tokenizer.ggml.pre, run with PCRE2 (UTF + UCP, JIT).
//
// Contract: Split() cuts a text into consecutive, non-empty pieces that together cover it exactly.
// A pre type is a sequence of regexes; each regex is applied inside every piece the previous one
// produced, and both the matches and the unmatched gaps between them become pieces (llama.cpp's
// unicode_regex_split). Input must be valid UTF-8: pass text through SanitizeUtf8 first.
//
// Known differences from llama.cpp (which hand-codes the GPT-2 and Llama 3 regexes and runs the
// others through std::regex on a "collapsed" text): Unicode properties come from PCRE2's tables
// (Unicode 14 in PCRE2 10.42), and unassigned code points are treated as the regexes say (llama.cpp's
// hand-coded splitters make each one a piece of its own). Neither occurs in the golden files.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"

namespace flotilla {

class PreTokenizer {
 public:
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // `pre` is a tokenizer.ggml.pre value; "" means "default" (llama.cpp does the same, with a
  // warning). Unknown names are an UNIMPLEMENTED error that names the value and lists the supported
  // ones: guessing a split would silently tokenize differently from the model's training.
  static StatusOr<std::unique_ptr<PreTokenizer>> Create(std::string_view pre);
  // Builds one from explicit regexes (tests, importers). INVALID_ARGUMENT on a bad pattern.
  static StatusOr<std::unique_ptr<PreTokenizer>> FromRegexes(const std::vector<std::string>& regexes,
                                                            bool ignore_merges = false);
  // Every accepted tokenizer.ggml.pre value, sorted.
  static std::vector<std::string> SupportedNames();

  // Appends the pieces of `text` (valid UTF-8) to `out`, as views into `text`. Thread-safe.
  void Split(std::string_view text, std::vector<std::string_view>& out) const;
  std::vector<std::string> SplitToStrings(std::string_view text) const;

  // llama.cpp's ignore_merges (Llama 3 family): a piece that is a whole vocab token is emitted as
  // that token without running the merges.
  bool ignore_merges() const { return ignore_merges_; }

 private:
  struct Regex;
  PreTokenizer() = default;
  std::vector<std::unique_ptr<Regex>> regexes_;
  bool ignore_merges_ = false;
};

// Replaces invalid UTF-8 the way llama.cpp's decoder does: a byte that does not start a complete
// sequence (lead byte, then the continuation bytes the lead announces) becomes U+FFFD and decoding
// resumes at the next byte. Sequences llama.cpp would accept but that are not Unicode scalar values
// (overlong forms, surrogates, values above U+10FFFF) are replaced byte by byte too, so the result
// is always valid UTF-8. Returns `text` itself when it is already valid, else a view of `storage`.
std::string_view SanitizeUtf8(std::string_view text, std::string& storage);

// Length in bytes of the UTF-8 sequence that starts with `lead` (llama.cpp's unicode_len_utf8: 1 for
// ASCII and stray continuation bytes, else from the high bits).
inline size_t Utf8SequenceLength(unsigned char lead) {
  static constexpr unsigned char kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

}  // namespace flotilla
