// Byte-level BPE (tokenizer.ggml.model = "gpt2"): GPT-2's byte <-> printable code point mapping and
// the merge algorithm of llama.cpp's llm_tokenizer_bpe. The codec itself is made by CreateBpeCodec
// (codec.h); this header exposes the byte mapping for importers and tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flotilla {

// GPT-2's bytes_to_unicode: bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF map to the code point of the
// same value; the other 68 bytes map to U+0100, U+0101, ... in byte order. Returns the UTF-8 text.
std::string_view ByteToUnicode(uint8_t byte);
// Appends the byte-level encoding of `bytes` (each byte -> its code point) to `out`.
void ByteLevelEncode(std::string_view bytes, std::string& out);
// The inverse for one token text: each mapped code point becomes its byte; code points outside the
// mapping (and invalid UTF-8 bytes) are copied through unchanged, as llama.cpp's llama_decode_text.
std::string ByteLevelDecode(std::string_view text);

}  // namespace flotilla
