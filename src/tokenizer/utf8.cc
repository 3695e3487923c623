#include "tokenizer/utf8.h"

namespace flotilla::utf8 {

namespace {

bool IsCont(std::string_view s, size_t i) {
  return i < s.size() && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80;
}

}  // namespace

uint32_t DecodeOne(std::string_view s, size_t& offset) {
  const uint8_t b0 = static_cast<uint8_t>(s[offset]);
  if ((b0 & 0x80) == 0) {
    offset += 1;
    return b0;
  }
  if ((b0 & 0xE0) == 0xC0 && IsCont(s, offset + 1)) {
    const uint32_t c = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(s[offset + 1]) & 0x3Fu);
    offset += 2;
    return c;
  }
  if ((b0 & 0xF0) == 0xE0 && IsCont(s, offset + 1) && IsCont(s, offset + 2)) {
    const uint32_t c = ((b0 & 0x0Fu) << 12) | ((static_cast<uint8_t>(s[offset + 1]) & 0x3Fu) << 6) |
                       (static_cast<uint8_t>(s[offset + 2]) & 0x3Fu);
    offset += 3;
    return c;
  }
  if ((b0 & 0xF8) == 0xF0 && IsCont(s, offset + 1) && IsCont(s, offset + 2) && IsCont(s, offset + 3)) {
    const uint32_t c = ((b0 & 0x07u) << 18) | ((static_cast<uint8_t>(s[offset + 1]) & 0x3Fu) << 12) |
                       ((static_cast<uint8_t>(s[offset + 2]) & 0x3Fu) << 6) |
                       (static_cast<uint8_t>(s[offset + 3]) & 0x3Fu);
    offset += 4;
    return c;
  }
  offset += 1;
  return kReplacement;
}

std::vector<uint32_t> Decode(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  size_t offset = 0;
  while (offset < text.size()) out.push_back(DecodeOne(text, offset));
  return out;
}

void Append(uint32_t c, std::string& out) {
  if (c > 0x10FFFF) c = kReplacement;
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string Encode(uint32_t cpt) {
  std::string s;
  Append(cpt, s);
  return s;
}

std::string Encode(const std::vector<uint32_t>& cpts) {
  std::string s;
  s.reserve(cpts.size());
  for (uint32_t c : cpts) Append(c, s);
  return s;
}

std::vector<size_t> SplitChars(std::string_view text) {
  std::vector<size_t> lens;
  lens.reserve(text.size());
  size_t offset = 0;
  while (offset < text.size()) {
    size_t n = SeqLen(text[offset]);
    if (n > text.size() - offset) n = text.size() - offset;
    lens.push_back(n);
    offset += n;
  }
  return lens;
}

}  // namespace flotilla::utf8
