#include "serve/json_grammar.h"

namespace flotilla::serve {
namespace {

bool IsWs(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsHex(unsigned char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

bool JsonPrefixValidator::Whitespace(unsigned char c) {
  if (!IsWs(c)) {
    ws_run_ = 0;
    return false;
  }
  return ++ws_run_ <= kMaxWhitespaceRun;
}

bool JsonPrefixValidator::AfterValue() {
  state_ = depth_ == 0 ? State::kDone : State::kCommaOrEnd;
  return true;
}

bool JsonPrefixValidator::StartValue(unsigned char c) {
  switch (c) {
    case '{':
    case '[':
      if (depth_ == kMaxDepth) return false;
      stack_[depth_++] = static_cast<char>(c);
      state_ = c == '{' ? State::kKeyOrEnd : State::kValueOrEnd;
      return true;
    case '"':
      string_is_key_ = false;
      state_ = State::kString;
      return true;
    case 't': literal_ = "rue"; state_ = State::kLiteral; return true;
    case 'f': literal_ = "alse"; state_ = State::kLiteral; return true;
    case 'n': literal_ = "ull"; state_ = State::kLiteral; return true;
    case '-': state_ = State::kNumMinus; return true;
    case '0': state_ = State::kNumZero; return true;
    default:
      if (c >= '1' && c <= '9') {
        state_ = State::kNumInt;
        return true;
      }
      return false;
  }
}

// The states between tokens of a container: keys, colons, commas and closing brackets.
bool JsonPrefixValidator::ContainerState(unsigned char c) {
  const char top = depth_ > 0 ? stack_[depth_ - 1] : 0;
  switch (state_) {
    case State::kKeyOrEnd:
    case State::kKey:
      if (c == '"') {
        string_is_key_ = true;
        state_ = State::kString;
        return true;
      }
      if (c == '}' && state_ == State::kKeyOrEnd) {
        --depth_;
        return AfterValue();
      }
      return false;
    case State::kColon:
      if (c != ':') return false;
      state_ = State::kValue;
      return true;
    case State::kCommaOrEnd:
      if (c == ',') {
        state_ = top == '{' ? State::kKey : State::kValue;
        return true;
      }
      if ((c == '}' && top == '{') || (c == ']' && top == '[')) {
        --depth_;
        return AfterValue();
      }
      return false;
    case State::kValueOrEnd:
      if (c == ']') {
        --depth_;
        return AfterValue();
      }
      return StartValue(c);
    default:
      return false;
  }
}

bool JsonPrefixValidator::EndNumber(unsigned char c) {
  AfterValue();
  return Feed(c);
}

bool JsonPrefixValidator::Feed(unsigned char c) {
  switch (state_) {
    case State::kString:
      if (c == '"') {
        if (string_is_key_) {
          state_ = State::kColon;
          return true;
        }
        return AfterValue();
      }
      if (c == '\\') state_ = State::kEscape;
      return c >= 0x20;  // raw control characters are not allowed in strings
    case State::kEscape:
      if (c == 'u') {
        hex_left_ = 4;
        state_ = State::kUnicode;
        return true;
      }
      state_ = State::kString;
      return c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't';
    case State::kUnicode:
      if (!IsHex(c)) return false;
      if (--hex_left_ == 0) state_ = State::kString;
      return true;
    case State::kLiteral:
      if (static_cast<unsigned char>(*literal_) != c) return false;
      if (*++literal_ == '\0') return AfterValue();
      return true;
    case State::kNumMinus:
      if (c == '0') { state_ = State::kNumZero; return true; }
      if (IsDigit(c)) { state_ = State::kNumInt; return true; }
      return false;
    case State::kNumZero:
    case State::kNumInt:
      if (IsDigit(c) && state_ == State::kNumInt) return true;
      if (c == '.') { state_ = State::kNumDot; return true; }
      if (c == 'e' || c == 'E') { state_ = State::kNumExp; return true; }
      return EndNumber(c);
    case State::kNumDot:
      if (!IsDigit(c)) return false;
      state_ = State::kNumFrac;
      return true;
    case State::kNumFrac:
      if (IsDigit(c)) return true;
      if (c == 'e' || c == 'E') { state_ = State::kNumExp; return true; }
      return EndNumber(c);
    case State::kNumExp:
      if (c == '+' || c == '-') { state_ = State::kNumExpSign; return true; }
      if (IsDigit(c)) { state_ = State::kNumExpDigits; return true; }
      return false;
    case State::kNumExpSign:
      if (!IsDigit(c)) return false;
      state_ = State::kNumExpDigits;
      return true;
    case State::kNumExpDigits:
      if (IsDigit(c)) return true;
      return EndNumber(c);
    default:
      break;
  }
  // Structural states: whitespace is allowed between tokens.
  if (IsWs(c)) return Whitespace(c);
  ws_run_ = 0;
  switch (state_) {
    case State::kStart:
      if (c != '{') return false;  // json_object: the top level is an object
      return StartValue(c);
    case State::kValue:
      return StartValue(c);
    case State::kDone:
      return false;
    default:
      return ContainerState(c);
  }
}

}  // namespace flotilla::serve
