// Vocab <-> GGUF tokenizer.ggml.* keys, with llama.cpp's per-model defaults (llama-vocab.cpp, load()).
#include "tokenizer/vocab.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include "tokenizer/vocab_index.h"

namespace flotilla {
namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";
constexpr std::string_view kPreKey = "tokenizer.ggml.pre";
constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kScoresKey = "tokenizer.ggml.scores";
constexpr std::string_view kTypesKey = "tokenizer.ggml.token_type";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";
constexpr std::string_view kAddBosKey = "tokenizer.ggml.add_bos_token";
constexpr std::string_view kAddEosKey = "tokenizer.ggml.add_eos_token";
constexpr std::string_view kAddSepKey = "tokenizer.ggml.add_sep_token";
constexpr std::string_view kAddPrefixKey = "tokenizer.ggml.add_space_prefix";
constexpr std::string_view kChatTemplateKey = "tokenizer.chat_template";

// Special-id keys in the order llama.cpp reads them, with the Vocab member each sets.
struct SpecialKey {
  std::string_view key;
  int32_t Vocab::*member;
};
constexpr std::array<SpecialKey, 9> kSpecialKeys = {{
    {"tokenizer.ggml.bos_token_id", &Vocab::bos},
    {"tokenizer.ggml.eos_token_id", &Vocab::eos},
    {"tokenizer.ggml.eot_token_id", &Vocab::eot},
    {"tokenizer.ggml.eom_token_id", &Vocab::eom},
    {"tokenizer.ggml.unknown_token_id", &Vocab::unk},
    {"tokenizer.ggml.seperator_token_id", &Vocab::sep},  // sic: llama.cpp's spelling
    {"tokenizer.ggml.padding_token_id", &Vocab::pad},
    {"tokenizer.ggml.mask_token_id", &Vocab::mask},
    {"tokenizer.ggml.cls_token_id", &Vocab::cls},
}};

// BPE pre-tokenizers for which llama.cpp turns clean_spaces off (it is on for every other BPE vocab).
constexpr std::array<std::string_view, 42> kBpeNoCleanSpaces = {
    "deepseek-llm", "deepseek-coder", "deepseek-v3", "spark2_5", "youtu", "command-r", "qwen2",
    "deepseek-r1-qwen", "kormo", "f2llmv2", "qwen35", "poro-chat", "viking", "tekken", "smollm",
    "chameleon", "gpt-4o", "llama4", "kanana2", "talkie", "granite-embed-multi-97m", "tiny_aya",
    "cohere2moe", "superbpe", "trillion", "granite-docling", "bailingmoe", "bailingmoe2", "llada-moe",
    "seed-coder", "hunyuan", "hunyuan-dense", "hy_v4", "joyai-llm", "kimi-k2", "ufakzeka", "grok-2",
    "afmoe", "laguna", "minimax-m2", "solar-open", "sarvam-moe"};
// BPE pre-tokenizers for which llama.cpp adds BOS by default.
constexpr std::array<std::string_view, 12> kBpeAddBos = {
    "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
    "jina-v5-nano", "tekken", "chameleon", "gemma4"};

// End-of-turn / end-of-message tokens llama.cpp finds by text when the file does not name them.
constexpr std::array<std::string_view, 11> kEotTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<end_of_utterance>"};

template <size_t N>
bool Contains(const std::array<std::string_view, N>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string KeyError(std::string_view key, std::string_view what) {
  return "vocab: " + std::string(key) + ": " + std::string(what);
}

// Sets kind and the per-model defaults that llama.cpp applies before reading the optional keys.
Status ApplyModelDefaults(const std::string& model, Vocab& v) {
  if (model == "llama") {
    v.kind = TokenizerKind::kSpm;
    v.bos = 1, v.eos = 2, v.unk = 0;
    v.add_space_prefix = true, v.add_bos = true, v.add_eos = false, v.clean_spaces = false;
  } else if (model == "bert") {
    v.kind = TokenizerKind::kWpm;
    v.bos = 101, v.unk = 100, v.sep = 102, v.pad = 0, v.mask = 103;
    v.add_space_prefix = false, v.add_bos = true, v.add_eos = false, v.add_sep = true;
    v.clean_spaces = true;
  } else if (model == "gpt2") {
    v.kind = TokenizerKind::kBpe;
    v.bos = 11, v.eos = 11;
    v.add_space_prefix = false;
    v.clean_spaces = !Contains(kBpeNoCleanSpaces, v.pre);
    v.add_bos = Contains(kBpeAddBos, v.pre);
    v.add_sep = v.pre == "jina-v1-en" || v.pre == "jina-v2-code" || v.pre == "roberta-bpe";
    if (v.pre == "glm4" || v.pre == "chatglm-bpe") v.bos = -1;
  } else {
    return UnimplementedError("vocab: " + std::string(kModelKey) + " '" + model +
                              "' is not supported (supported: llama, gpt2, bert)");
  }
  return Status::Ok();
}

// Reads a float array that may be stored as float32/float64 or integers (llama.cpp accepts int32).
StatusOr<std::vector<float>> ReadScores(const gguf::File& file) {
  ASSIGN_OR_RETURN(const gguf::Array* arr, file.GetArray(kScoresKey));
  std::vector<float> out;
  out.reserve(arr->items.size());
  for (const gguf::Value& item : arr->items) {
    if (std::optional<double> f = item.AsFloat()) {
      out.push_back(static_cast<float>(*f));
    } else if (std::optional<int64_t> i = item.AsInt()) {
      out.push_back(static_cast<float>(*i));
    } else {
      return InvalidArgumentError(KeyError(kScoresKey, "items must be numbers"));
    }
  }
  return out;
}

Status ReadTokenArrays(const gguf::File& file, Vocab& v) {
  if (file.Find(kTokensKey) == nullptr) {
    return NotFoundError(KeyError(kTokensKey, "missing (the file has no tokenizer vocabulary)"));
  }
  ASSIGN_OR_RETURN(v.tokens, file.GetStringArray(kTokensKey));
  const size_t n = v.tokens.size();
  for (size_t i = 0; i < n; ++i) {
    if (v.tokens[i].empty()) v.tokens[i] = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp
  }
  if (file.Find(kScoresKey) != nullptr) {
    ASSIGN_OR_RETURN(v.scores, ReadScores(file));
    if (v.scores.size() < n) {
      return InvalidArgumentError(KeyError(kScoresKey, std::to_string(v.scores.size()) +
                                                           " scores for " + std::to_string(n) + " tokens"));
    }
    v.scores.resize(n);
  }
  v.types.assign(n, TokenType::kNormal);
  if (file.Find(kTypesKey) != nullptr) {
    ASSIGN_OR_RETURN(std::vector<int32_t> types, file.GetI32Array(kTypesKey));
    if (types.size() < n) {
      return InvalidArgumentError(KeyError(kTypesKey, std::to_string(types.size()) + " types for " +
                                                          std::to_string(n) + " tokens"));
    }
    for (size_t i = 0; i < n; ++i) {
      // Unknown values become kUndefined, as llama.cpp treats them.
      v.types[i] = (types[i] >= 0 && types[i] <= 6) ? static_cast<TokenType>(types[i])
                                                    : TokenType::kUndefined;
    }
  }
  VocabIndex seen;
  if (const int32_t dup = seen.InsertAll(v.tokens, /*skip_empty=*/false); dup >= 0) {
    return InvalidArgumentError(KeyError(kTokensKey, "duplicate token '" + v.tokens[dup] + "' at ids " +
                                                         std::to_string(seen.Find(v.tokens[dup])) +
                                                         " and " + std::to_string(dup)));
  }
  if (file.Find(kMergesKey) != nullptr) {
    ASSIGN_OR_RETURN(v.merges, file.GetStringArray(kMergesKey));
  } else if (v.kind == TokenizerKind::kBpe && v.pre != "kimi-k2") {
    return NotFoundError(KeyError(kMergesKey, "missing (a gpt2 tokenizer needs its merges)"));
  }
  return Status::Ok();
}

Status ReadBool(const gguf::File& file, std::string_view key, bool& out) {
  if (file.Find(key) == nullptr) return Status::Ok();
  ASSIGN_OR_RETURN(out, file.GetBool(key));
  return Status::Ok();
}

Status ReadSpecialIds(const gguf::File& file, Vocab& v) {
  for (const SpecialKey& sk : kSpecialKeys) {
    int32_t& id = v.*sk.member;
    if (id >= v.size()) id = -1;  // a default outside the vocab is disabled
    const gguf::Value* value = file.Find(sk.key);
    if (value == nullptr) continue;
    std::optional<uint64_t> u = value->AsUint();
    if (!u.has_value()) {
      if (value->AsInt().has_value()) continue;  // negative: llama.cpp fails to read it as u32
      return InvalidArgumentError(KeyError(sk.key, "must be an integer, got " +
                                                       std::string(gguf::ValueTypeName(value->type()))));
    }
    if (*u < static_cast<uint64_t>(v.size())) id = static_cast<int32_t>(*u);
    // else: llama.cpp warns "bad special token" and keeps the default.
  }
  // Note: llama.cpp never reads cls_token_id; a BERT vocab's BOS stays 101 ([CLS]) unless
  // bos_token_id says otherwise. We keep `cls` for callers and follow llama.cpp for BOS.
  return Status::Ok();
}

// llama.cpp finds EOT/EOM by text when the file does not name them.
void DetectEotEom(Vocab& v) {
  if (v.eot < 0) {
    for (std::string_view text : kEotTexts) {
      auto it = std::find(v.tokens.begin(), v.tokens.end(), text);
      if (it != v.tokens.end()) {
        v.eot = static_cast<int32_t>(it - v.tokens.begin());
        break;
      }
    }
  }
  if (v.eom < 0) {
    auto it = std::find(v.tokens.begin(), v.tokens.end(), "<|eom_id|>");
    if (it != v.tokens.end()) v.eom = static_cast<int32_t>(it - v.tokens.begin());
  }
}

}  // namespace

StatusOr<Vocab> Vocab::FromGguf(const gguf::File& file) {
  Vocab v;
  if (file.Find(kModelKey) == nullptr) {
    return NotFoundError(KeyError(kModelKey, "missing (the file has no tokenizer)"));
  }
  ASSIGN_OR_RETURN(std::string model, file.GetString(kModelKey));
  if (file.Find(kPreKey) != nullptr) {
    ASSIGN_OR_RETURN(v.pre, file.GetString(kPreKey));
  }
  if (v.pre.empty()) v.pre = "default";
  RETURN_IF_ERROR(ApplyModelDefaults(model, v));
  RETURN_IF_ERROR(ReadBool(file, kAddPrefixKey, v.add_space_prefix));
  RETURN_IF_ERROR(ReadTokenArrays(file, v));
  RETURN_IF_ERROR(ReadSpecialIds(file, v));
  RETURN_IF_ERROR(ReadBool(file, kAddBosKey, v.add_bos));
  RETURN_IF_ERROR(ReadBool(file, kAddEosKey, v.add_eos));
  RETURN_IF_ERROR(ReadBool(file, kAddSepKey, v.add_sep));
  if (v.add_bos && v.bos < 0) {
    return InvalidArgumentError("vocab: " + std::string(kAddBosKey) + " is true, but bos_token_id is not set");
  }
  if (v.add_eos && v.eos < 0) {
    return InvalidArgumentError("vocab: " + std::string(kAddEosKey) + " is true, but eos_token_id is not set");
  }
  if (v.add_sep && v.sep < 0) {
    return InvalidArgumentError("vocab: " + std::string(kAddSepKey) +
                                " is true, but seperator_token_id is not set");
  }
  DetectEotEom(v);
  if (file.Find(kChatTemplateKey) != nullptr) {
    ASSIGN_OR_RETURN(std::string tmpl, file.GetString(kChatTemplateKey));
    v.chat_template = std::move(tmpl);
  }
  if (const gguf::Value* name = file.Find("general.name"); name && name->AsString()) {
    v.model_name = *name->AsString();
  }
  if (const gguf::Value* arch = file.Find("general.architecture"); arch && arch->AsString()) {
    v.architecture = *arch->AsString();
  }
  return v;
}

void Vocab::ToGguf(gguf::Writer& writer) const {
  const char* model = kind == TokenizerKind::kSpm ? "llama" : kind == TokenizerKind::kBpe ? "gpt2" : "bert";
  writer.Set(std::string(kModelKey), gguf::Value::String(model));
  writer.Set(std::string(kPreKey), gguf::Value::String(pre));
  writer.Set(std::string(kTokensKey), gguf::Value::StringArray(tokens));
  if (!scores.empty()) writer.Set(std::string(kScoresKey), gguf::Value::F32Array(scores));
  std::vector<int32_t> type_ids(types.size());
  for (size_t i = 0; i < types.size(); ++i) type_ids[i] = static_cast<int32_t>(types[i]);
  writer.Set(std::string(kTypesKey), gguf::Value::I32Array(type_ids));
  if (!merges.empty()) writer.Set(std::string(kMergesKey), gguf::Value::StringArray(merges));
  for (const SpecialKey& sk : kSpecialKeys) {
    const int32_t id = this->*sk.member;
    if (id >= 0) writer.Set(std::string(sk.key), gguf::Value::U32(static_cast<uint32_t>(id)));
  }
  writer.Set(std::string(kAddBosKey), gguf::Value::Bool(add_bos));
  writer.Set(std::string(kAddEosKey), gguf::Value::Bool(add_eos));
  if (add_sep) writer.Set(std::string(kAddSepKey), gguf::Value::Bool(add_sep));
  writer.Set(std::string(kAddPrefixKey), gguf::Value::Bool(add_space_prefix));
  if (chat_template.has_value()) {
    writer.Set(std::string(kChatTemplateKey), gguf::Value::String(*chat_template));
  }
}

}  // namespace flotilla
