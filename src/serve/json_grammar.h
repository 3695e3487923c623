// A JSON-validity state machine for response_format {"type": "json_object"}: fed the generated text
// byte by byte, it says whether the text so far is a prefix of a valid JSON object and when the
// top-level object has closed. The sampler masks every token whose text would make the prefix
// invalid, so the output is JSON by construction (or cut short by max_tokens).
#pragma once

#include <cstdint>
#include <string_view>

namespace flotilla::serve {

class JsonPrefixValidator {
 public:
  static constexpr int kMaxDepth = 32;        // deeper nesting is refused
  static constexpr int kMaxWhitespaceRun = 2;  // stops a model from padding forever

  // Feeds one byte; false (and the state left unusable) when the text stops being a valid prefix.
  bool Feed(unsigned char c);
  // Feeds each byte; false at the first invalid one.
  bool Feed(std::string_view text) {
    for (char c : text) {
      if (!Feed(static_cast<unsigned char>(c))) return false;
    }
    return true;
  }
  // True once the top-level object has closed (nothing but whitespace may follow).
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State : uint8_t {
    kStart,          // before the top-level '{'
    kValue,          // a value is expected
    kKeyOrEnd,       // after '{'
    kKey,            // after ',' in an object
    kColon,          // after a key
    kCommaOrEnd,     // after a value inside a container
    kValueOrEnd,     // after '['
    kString,
    kEscape,
    kUnicode,        // inside \uXXXX; hex_left_ digits remain
    kLiteral,        // true/false/null; literal_ points at what remains
    kNumMinus, kNumZero, kNumInt, kNumDot, kNumFrac, kNumExp, kNumExpSign, kNumExpDigits,
    kDone,
  };
  bool StartValue(unsigned char c);
  bool AfterValue();
  bool EndNumber(unsigned char c);  // a byte that ends a number: handled in the state after the value
  bool ContainerState(unsigned char c);
  bool Whitespace(unsigned char c);

  State state_ = State::kStart;
  char stack_[kMaxDepth] = {};  // '{' or '['
  int depth_ = 0;
  bool string_is_key_ = false;
  uint8_t hex_left_ = 0;
  const char* literal_ = nullptr;
  uint8_t ws_run_ = 0;
};

}  // namespace flotilla::serve
