// Importers that turn published tokenizer files into a BPE Vocab in GGUF form (byte-level token
// texts, "left right" merges), as llama.cpp's convert script would write them.
#pragma once

#include <string>
#include <string_view>

#include "flotilla/status.h"
#include "tokenizer/vocab.h"

namespace flotilla {

// A tiktoken BPE file ("base64(token bytes) rank" per line, ranks 0..N-1), laid out as Llama 3:
// ids = ranks, then the 256 Llama 3 special tokens (<|begin_of_text|> = N, ...) as CONTROL,
// pre = "llama-bpe", bos = <|begin_of_text|>, eos = <|end_of_text|>, eot = <|eot_id|>, add_bos.
// Merges are derived from the ranks as Hugging Face's tiktoken converter does: for every token of
// two or more bytes, each split into two parts that are both tokens gives the merge "left right";
// merges are ordered by the rank of the merged token, then by the ranks of left and right.
// Errors: INVALID_ARGUMENT naming the line for bad base64, a missing or bad rank, duplicate tokens
// or ranks, ranks with gaps, an empty file.
StatusOr<Vocab> ImportTiktoken(const std::string& path);
StatusOr<Vocab> ImportTiktokenText(std::string_view content);

// A Hugging Face tokenizer.json whose model is byte-level BPE: model.vocab, model.merges ("a b"
// strings or ["a", "b"] pairs), added_tokens (special -> CONTROL, else USER_DEFINED; ids beyond the
// vocab extend it, holes become "[PAD<id>]" UNUSED tokens). The pre type is inferred from the
// pre_tokenizer (Digits(individual) + ByteLevel -> "smollm", ByteLevel -> "gpt-2", the Llama 3 /
// Qwen2 split regexes -> "llama-bpe" / "qwen2"); an unrecognised one is UNIMPLEMENTED. bos/eos come
// from a TemplateProcessing post-processor when there is one, else from well-known token names
// (<|begin_of_text|>, <s>, <|endoftext|>, ...); eot from <|eot_id|> / <|im_end|> / <|end|>.
// Errors: INVALID_ARGUMENT for malformed JSON or missing/mistyped fields (the message names them),
// UNIMPLEMENTED for non-BPE models or models that are not byte-level.
StatusOr<Vocab> ImportHfTokenizerJson(const std::string& path);
StatusOr<Vocab> ImportHfTokenizerJsonText(std::string_view content);

// Imports either kind, recognised by content: a JSON object is a tokenizer.json, lines of
// "base64 rank" are tiktoken. INVALID_ARGUMENT when it is neither.
StatusOr<Vocab> ImportVocabFile(const std::string& path);
StatusOr<Vocab> ImportVocabText(std::string_view content);

}  // namespace flotilla
