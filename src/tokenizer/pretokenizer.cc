#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>

namespace flotilla {
namespace {

// The regex texts are those of the published tokenizers, in the per-type sequences llama.cpp uses.
// GPT-2 (llama.cpp hand-codes it with a trailing \s+ alternative, which we spell out).
constexpr const char* kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
// Llama 3, with (?i:...) spelled out for the ASCII contractions.
constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// Qwen2: as Llama 3 but single digits.
constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kBloom = " ?[^(\\s|.,!?…。，、।۔،)]+";
// GPT-4o / Llama 4 and Tekken, in llama.cpp's form that treats every non-ASCII letter as both cases.
constexpr const char* kGpt4o =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kTekken =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|"
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// deepseek-llm's letter class, written with escapes (some of its characters are NFC singletons).
constexpr const char* kDeepseekLetters =
    "\\s?[A-Za-z"
    "\\x{00B5}\\x{00C0}-\\x{00D6}\\x{00D8}-\\x{00F6}\\x{00F8}-\\x{01BA}"
    "\\x{01BC}-\\x{01BF}\\x{01C4}-\\x{0293}\\x{0295}-\\x{02AF}\\x{0370}-\\x{0373}"
    "\\x{0376}\\x{0377}\\x{037B}-\\x{037D}\\x{037F}\\x{0386}\\x{0388}-\\x{038A}"
    "\\x{038C}\\x{038E}-\\x{03A1}\\x{03A3}-\\x{03F5}\\x{03F7}-\\x{0481}"
    "\\x{048A}-\\x{052F}\\x{0531}-\\x{0556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"
    "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}"
    "\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}"
    "\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"
    "\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
    "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"
    "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}"
    "\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}"
    "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"
    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"
    "]+";
constexpr const char* kCjk = "[一-龥ࠀ-一가-퟿]+";

struct PreType {
  std::vector<std::string> regexes;
  bool ignore_merges = false;
};

const std::map<std::string, PreType, std::less<>>& PreTypes() {
  static const auto* types = [] {
    auto* m = new std::map<std::string, PreType, std::less<>>;
    auto add = [m](std::initializer_list<const char*> names, PreType type) {
      for (const char* name : names) (*m)[name] = type;
    };
    add({"default"}, {{"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}});
    add({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
        {{kLlama3}, /*ignore_merges=*/true});
    add({"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}, {{kLlama3}});
    add({"deepseek-llm"},
        {{"[\r\n]", kDeepseekLetters, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", kCjk, "\\p{N}+"}});
    add({"deepseek-coder"}, {{"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"}});
    add({"deepseek-v3"},
        {{"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
          "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
          " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}});
    add({"falcon"}, {{"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"}});
    add({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
        {{"\\p{N}", kGpt2}});
    add({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
         "mellum", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "exaone4",
         "trillion"},
        {{kGpt2}});
    add({"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan"}, {{kQwen2}});
    add({"poro-chat", "bloom", "gpt3-finnish"}, {{kBloom}});
    add({"viking"}, {{kBloom, "\\p{N}"}});
    add({"chameleon"},
        {{"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
          "[\\p{P}!-/:-@\\[-`{-~]", kGpt2}});
    add({"tekken"}, {{kTekken}, /*ignore_merges=*/true});
    add({"gpt-4o", "llama4"}, {{kGpt4o}});
    return m;
  }();
  return *types;
}

// llama.cpp's whitespace set (Unicode White_Space) includes U+0085, which PCRE2's \s with UCP does
// not; add it wherever a pattern says \s or \S.
std::string WidenWhitespace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char n = pattern[++i];
      if (n == 's') {
        out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (n == 'S' && !in_class) {
        out += "[^\\s\\x{85}]";
      } else {
        out += c;
        out += n;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];  // literal ]
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

// Per-thread PCRE2 match resources, shared by all patterns (we only read the whole-match offsets).
struct MatchScratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchScratch() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
    CHECK(data != nullptr && context != nullptr && jit_stack != nullptr);
    pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchScratch() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
  }
};

MatchScratch& Scratch() {
  thread_local MatchScratch scratch;
  return scratch;
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::~PreTokenizer() = default;

StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromRegexes(
    const std::vector<std::string>& regexes, bool ignore_merges) {
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer());
  pre->ignore_merges_ = ignore_merges;
  for (const std::string& text : regexes) {
    const std::string pattern = WidenWhitespace(text);
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    auto regex = std::make_unique<Regex>();
    regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF |
                                    PCRE2_DOLLAR_ENDONLY,
                                &error, &error_offset, nullptr);
    if (regex->code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      return InvalidArgumentError("bad pre-tokenizer regex '" + text + "' at offset " +
                                  std::to_string(error_offset) + ": " +
                                  reinterpret_cast<const char*>(message));
    }
    // JIT is an optimisation: the interpreter gives the same results when it is unavailable.
    (void)pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);
    pre->regexes_.push_back(std::move(regex));
  }
  return pre;
}

StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::Create(std::string_view pre) {
  if (pre.empty()) pre = "default";
  const auto& types = PreTypes();
  auto it = types.find(pre);
  if (it == types.end()) {
    std::string names;
    for (const auto& [name, type] : types) names += (names.empty() ? "" : ", ") + name;
    return UnimplementedError("unknown BPE pre-tokenizer (tokenizer.ggml.pre) '" + std::string(pre) +
                              "'; supported: " + names);
  }
  return FromRegexes(it->second.regexes, it->second.ignore_merges);
}

std::vector<std::string> PreTokenizer::SupportedNames() {
  std::vector<std::string> names;
  for (const auto& [name, type] : PreTypes()) names.push_back(name);
  return names;
}

void PreTokenizer::Split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  using Piece = std::pair<size_t, size_t>;  // [begin, end) byte offsets into text
  std::vector<Piece> pieces = {{0, text.size()}};
  std::vector<Piece> next;
  MatchScratch& scratch = Scratch();
  const auto* subject_base = reinterpret_cast<PCRE2_SPTR>(text.data());
  for (const auto& regex : regexes_) {
    next.clear();
    for (const auto& [begin, end] : pieces) {
      const size_t length = end - begin;
      size_t last = 0;  // end of the previous match, relative to begin
      size_t pos = 0;
      while (pos < length) {
        const int rc = pcre2_match(regex->code, subject_base + begin, length, pos,
                                   PCRE2_NO_UTF_CHECK, scratch.data, scratch.context);
        if (rc < 0) break;  // no match, or a resource limit: the rest is one gap
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.data);
        const size_t match_begin = ov[0], match_end = ov[1];
        if (match_end <= match_begin) {  // empty match: step over one character
          pos = match_begin + Utf8SequenceLength(static_cast<unsigned char>(text[begin + match_begin]));
          continue;
        }
        if (match_begin > last) next.emplace_back(begin + last, begin + match_begin);
        next.emplace_back(begin + match_begin, begin + match_end);
        last = pos = match_end;
      }
      if (last < length) next.emplace_back(begin + last, end);
    }
    pieces.swap(next);
  }
  for (const auto& [begin, end] : pieces) out.push_back(text.substr(begin, end - begin));
}

std::vector<std::string> PreTokenizer::SplitToStrings(std::string_view text) const {
  std::vector<std::string_view> views;
  Split(text, views);
  return {views.begin(), views.end()};
}

std::string_view SanitizeUtf8(std::string_view text, std::string& storage) {
  // Returns the length of the valid scalar value at i, or 0.
  auto valid_at = [&text](size_t i) -> size_t {
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 < 0x80) return 1;
    size_t n = 0;
    uint32_t cp = 0;
    if ((b0 & 0xE0) == 0xC0) { n = 2; cp = b0 & 0x1F; }
    else if ((b0 & 0xF0) == 0xE0) { n = 3; cp = b0 & 0x0F; }
    else if ((b0 & 0xF8) == 0xF0) { n = 4; cp = b0 & 0x07; }
    else return 0;
    if (i + n > text.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
  };
  size_t i = 0;
  while (i < text.size()) {
    const size_t n = valid_at(i);
    if (n == 0) break;
    i += n;
  }
  if (i == text.size()) return text;
  storage.assign(text.substr(0, i));
  while (i < text.size()) {
    const size_t n = valid_at(i);
    if (n == 0) {
      storage += "\xEF\xBF\xBD";
      ++i;
    } else {
      storage.append(text.substr(i, n));
      i += n;
    }
  }
  return storage;
}

}  // namespace flotilla
