// UTF-8 helpers with llama.cpp's exact leniency, shared by the tokenizer codecs.
//
// Decoding contract (matches llama.cpp's unicode_cpts_from_utf8): a well-formed sequence of 1-4 bytes
// (lead byte pattern plus continuation bytes 10xxxxxx; overlong forms and surrogates are NOT rejected)
// yields its code point; anything else consumes exactly one byte and yields U+FFFD. Never reads past
// the end of the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flotilla::utf8 {

inline constexpr uint32_t kReplacement = 0xFFFD;

// The sequence length that a lead byte announces, by its high nibble (llama.cpp's unicode_len_utf8):
// 0x00-0xBF -> 1 (continuation bytes count as 1), 0xC0-0xDF -> 2, 0xE0-0xEF -> 3, 0xF0-0xFF -> 4.
// Callers must clamp to the bytes that remain.
inline size_t SeqLen(char lead) {
  static constexpr uint8_t kLookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLookup[static_cast<uint8_t>(lead) >> 4];
}

// Decodes the code point at `offset` and advances it (see the contract above).
uint32_t DecodeOne(std::string_view text, size_t& offset);
// All code points of `text`.
std::vector<uint32_t> Decode(std::string_view text);
// Appends the UTF-8 encoding of `cpt` (values above 0x10FFFF encode as U+FFFD).
void Append(uint32_t cpt, std::string& out);
std::string Encode(uint32_t cpt);
std::string Encode(const std::vector<uint32_t>& cpts);
// Splits `text` into characters by SeqLen, clamped at the end (llama.cpp's SPM symbol split).
// Returns the byte length of each piece; the lengths sum to text.size().
std::vector<size_t> SplitChars(std::string_view text);

}  // namespace flotilla::utf8
