// Hugging Face tokenizer.json (byte-level BPE) -> Vocab. nlohmann::json exceptions stay inside this
// file: every failure becomes a Status.
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "tokenizer/import.h"

namespace flotilla {
namespace {

using nlohmann::json;

constexpr const char* kLlama3Split =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2Split =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

bool IsType(const json& j, const char* type) {
  return j.is_object() && j.contains("type") && j["type"] == type;
}

// The llama.cpp pre type whose regexes reproduce this pre_tokenizer, or nullopt.
std::optional<std::string> InferPre(const json& pre) {
  std::vector<json> steps;
  if (IsType(pre, "Sequence")) {
    for (const json& step : pre.at("pretokenizers")) steps.push_back(step);
  } else if (pre.is_object()) {
    steps.push_back(pre);
  }
  auto byte_level_regex = [](const json& j) {
    return IsType(j, "ByteLevel") && j.value("use_regex", true);
  };
  auto split_regex = [](const json& j) -> std::string {
    if (!IsType(j, "Split") || !j.contains("pattern") || !j["pattern"].contains("Regex")) return "";
    return j["pattern"]["Regex"].get<std::string>();
  };
  if (steps.size() == 1 && byte_level_regex(steps[0])) return "gpt-2";
  if (steps.size() == 2 && IsType(steps[0], "Digits") &&
      steps[0].value("individual_digits", false) && byte_level_regex(steps[1])) {
    return "smollm";  // \p{N} then the GPT-2 regex, as starcoder/refact
  }
  if (steps.size() == 2 && IsType(steps[1], "ByteLevel") && !steps[1].value("use_regex", true)) {
    const std::string regex = split_regex(steps[0]);
    if (regex == kLlama3Split) return "llama-bpe";
    if (regex == kQwen2Split) return "qwen2";
  }
  return std::nullopt;
}

// Fills bos/eos (and add_bos/add_eos) from a TemplateProcessing post-processor's single template.
bool SpecialsFromTemplate(const json& post, Vocab& vocab, const std::map<std::string, int32_t>& ids) {
  if (!IsType(post, "TemplateProcessing") || !post.contains("single")) return false;
  bool seen_sequence = false, any = false;
  for (const json& item : post["single"]) {
    if (item.contains("Sequence")) {
      seen_sequence = true;
      continue;
    }
    if (!item.contains("SpecialToken")) continue;
    auto it = ids.find(item["SpecialToken"].at("id").get<std::string>());
    if (it == ids.end()) continue;
    any = true;
    if (!seen_sequence) {
      vocab.bos = it->second;
      vocab.add_bos = true;
    } else {
      vocab.eos = it->second;
      vocab.add_eos = true;
    }
  }
  return any;
}

int32_t FindFirst(const std::map<std::string, int32_t>& ids, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = ids.find(name);
    if (it != ids.end()) return it->second;
  }
  return -1;
}

// Reads model.vocab, model.merges and added_tokens into `vocab`.
Status ReadTokens(const json& root, Vocab& vocab, std::map<std::string, int32_t>& ids) {
  const json& model = root.at("model");
  if (model.contains("type") && model["type"] != "BPE") {
    return UnimplementedError("tokenizer.json model type " + model["type"].dump() +
                              " is not supported (only BPE)");
  }
  std::map<int32_t, std::pair<std::string, TokenType>> by_id;
  for (const auto& [text, id] : model.at("vocab").items()) {
    by_id[id.get<int32_t>()] = {text, TokenType::kNormal};
  }
  if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
    for (const json& added : root["added_tokens"]) {
      const bool special = added.value("special", false);
      by_id[added.at("id").get<int32_t>()] = {added.at("content").get<std::string>(),
                                             special ? TokenType::kControl : TokenType::kUserDefined};
    }
  }
  if (by_id.empty()) return InvalidArgumentError("tokenizer.json has an empty model.vocab");
  if (by_id.begin()->first < 0) return InvalidArgumentError("tokenizer.json has a negative token id");
  const int32_t n = by_id.rbegin()->first + 1;
  vocab.tokens.assign(n, "");
  vocab.types.assign(n, TokenType::kUnused);
  for (int32_t i = 0; i < n; ++i) vocab.tokens[i] = "[PAD" + std::to_string(i) + "]";
  for (auto& [id, entry] : by_id) {
    vocab.tokens[id] = entry.first;
    vocab.types[id] = entry.second;
    if (!ids.emplace(entry.first, id).second) {
      return InvalidArgumentError("tokenizer.json maps token '" + entry.first + "' to two ids");
    }
  }
  for (const json& merge : model.at("merges")) {
    if (merge.is_string()) {
      vocab.merges.push_back(merge.get<std::string>());
    } else if (merge.is_array() && merge.size() == 2) {
      vocab.merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
    } else {
      return InvalidArgumentError("tokenizer.json merge " + merge.dump() +
                                  " is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  return Status::Ok();
}

StatusOr<Vocab> ParseTokenizerJson(const json& root) {
  if (!root.is_object() || !root.contains("model")) {
    return InvalidArgumentError("tokenizer.json has no \"model\" object");
  }
  const json& decoder = root.contains("decoder") ? root["decoder"] : json();
  const json& pre = root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json();
  if (!IsType(decoder, "ByteLevel") && !IsType(pre, "ByteLevel") &&
      pre.dump().find("ByteLevel") == std::string::npos) {
    return UnimplementedError("tokenizer.json is not a byte-level BPE (no ByteLevel decoder or "
                              "pre_tokenizer); only GPT-2 style byte-level BPE is supported");
  }
  Vocab vocab;
  vocab.kind = TokenizerKind::kBpe;
  std::map<std::string, int32_t> ids;
  RETURN_IF_ERROR(ReadTokens(root, vocab, ids));
  std::optional<std::string> pre_name = InferPre(pre);
  if (!pre_name) {
    return UnimplementedError("unrecognized tokenizer.json pre_tokenizer " + pre.dump().substr(0, 300) +
                              "; supported: ByteLevel (gpt-2), Digits+ByteLevel (smollm), Llama 3 "
                              "and Qwen2 Split regexes");
  }
  vocab.pre = *pre_name;
  if (vocab.pre == "llama-bpe") vocab.add_bos = true;
  // llama.cpp cleans spaces when decoding for gpt-2 and llama-bpe, not for smollm and qwen2.
  vocab.clean_spaces = vocab.pre == "gpt-2" || vocab.pre == "llama-bpe";
  const json& post = root.contains("post_processor") ? root["post_processor"] : json();
  if (!SpecialsFromTemplate(post, vocab, ids)) {
    vocab.bos = FindFirst(ids, {"<|begin_of_text|>", "<s>", "<|startoftext|>", "<|endoftext|>"});
    vocab.eos = FindFirst(ids, {"<|end_of_text|>", "</s>", "<|endoftext|>"});
  }
  vocab.eot = FindFirst(ids, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"});
  if (root["model"].contains("unk_token") && root["model"]["unk_token"].is_string()) {
    auto it = ids.find(root["model"]["unk_token"].get<std::string>());
    if (it != ids.end()) vocab.unk = it->second;
  }
  vocab.pad = FindFirst(ids, {"<|padding|>", "<pad>", "[PAD]"});
  return vocab;
}

}  // namespace

StatusOr<Vocab> ImportHfTokenizerJsonText(std::string_view content) {
  try {
    const json root = json::parse(content.begin(), content.end());
    return ParseTokenizerJson(root);
  } catch (const json::parse_error& e) {
    return InvalidArgumentError(std::string("tokenizer.json is not valid JSON: ") + e.what());
  } catch (const json::exception& e) {
    return InvalidArgumentError(std::string("tokenizer.json has a missing or mistyped field: ") +
                                e.what());
  }
}

StatusOr<Vocab> ImportHfTokenizerJson(const std::string& path) {
  ASSIGN_OR_RETURN(std::string content, ReadFileToString(path));
  StatusOr<Vocab> vocab = ImportHfTokenizerJsonText(content);
  if (!vocab.ok()) return vocab.status().WithContext(path);
  return vocab;
}

}  // namespace flotilla
