// Jinja lexer: template text and tags, with whitespace control ({%- -%}, trim_blocks,
// lstrip_blocks) applied here so the parser only sees final text.
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tokenizer/jinja_ast.h"

namespace flotilla::jinja {

std::string DescribePosition(std::string_view source, size_t pos) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < pos && i < source.size(); ++i) {
    if (source[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  Lexer(std::string_view src, const LexOptions& options) : src_(src), options_(options) {}

  StatusOr<std::vector<Token>> Run() {
    size_t pos = 0;
    while (true) {
      size_t open = FindTagOpen(pos);
      std::string text(src_.substr(pos, open == std::string_view::npos ? std::string_view::npos : open - pos));
      ApplyLeadingControl(text);
      if (open == std::string_view::npos) {
        PushText(std::move(text), pos);
        break;
      }
      const char kind = src_[open + 1];
      size_t p = open + 2;
      if (p < src_.size() && src_[p] == '-') {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
        ++p;
      } else if (p < src_.size() && src_[p] == '+') {
        ++p;
      } else if (kind != '{' && options_.lstrip_blocks) {
        LStripBlock(text);
      }
      PushText(std::move(text), pos);
      if (kind == '#') {
        ASSIGN_OR_RETURN(pos, SkipComment(open, p));
      } else {
        ASSIGN_OR_RETURN(pos, LexTag(open, kind, p));
      }
    }
    tokens_.push_back(Token{TokenKind::kEof, "", 0, 0, src_.size()});
    return std::move(tokens_);
  }

 private:
  size_t FindTagOpen(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string_view::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string_view::npos;
  }

  // Whitespace control owed by the previous tag: "-}}" strips all, trim_blocks one newline.
  // Also notes whether the remaining text starts a line (for lstrip_blocks), as Jinja does.
  void ApplyLeadingControl(std::string& text) {
    size_t removed = 0;
    if (strip_next_) {
      while (removed < text.size() && IsSpace(text[removed])) ++removed;
    } else if (trim_newline_) {
      removed = text.starts_with("\n") ? 1 : text.starts_with("\r\n") ? 2 : 0;
    }
    if (!at_template_start_) line_start_ = removed > 0 && text[removed - 1] == '\n';
    at_template_start_ = false;
    text.erase(0, removed);
    strip_next_ = trim_newline_ = false;
  }

  // lstrip_blocks: spaces and tabs between a line start and a block tag go.
  void LStripBlock(std::string& text) const {
    const size_t nl = text.rfind('\n');
    const size_t start = nl == std::string::npos ? 0 : nl + 1;
    if (nl == std::string::npos && !line_start_) return;
    for (size_t i = start; i < text.size(); ++i) {
      if (text[i] != ' ' && text[i] != '\t') return;
    }
    text.resize(start);
  }

  void PushText(std::string text, size_t pos) {
    if (!text.empty()) tokens_.push_back(Token{TokenKind::kText, std::move(text), 0, 0, pos});
  }

  Status Error(size_t pos, const std::string& what) const {
    return InvalidArgumentError("chat template: " + what + " at " + DescribePosition(src_, pos));
  }

  StatusOr<size_t> SkipComment(size_t open, size_t p) {
    const size_t close = src_.find("#}", p);
    if (close == std::string_view::npos) return Error(open, "unterminated comment '{#'");
    strip_next_ = close > p && src_[close - 1] == '-';
    trim_newline_ = !strip_next_ && options_.trim_blocks;
    return close + 2;
  }

  // Lexes the inside of {{ }} or {% %} starting at p; returns the offset after the closer.
  StatusOr<size_t> LexTag(size_t open, char kind, size_t p) {
    const bool is_stmt = kind == '%';
    const size_t first_token = tokens_.size() + 1;
    tokens_.push_back(Token{is_stmt ? TokenKind::kStmtBegin : TokenKind::kExprBegin, "", 0, 0, open});
    const std::string_view closer = is_stmt ? "%}" : "}}";
    int depth = 0;
    while (true) {
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (p >= src_.size()) {
        return Error(open, std::string("unterminated tag '") + (is_stmt ? "{%" : "{{") + "'");
      }
      if (depth == 0) {
        const std::string_view rest = src_.substr(p);
        bool matched = false;
        if (rest.starts_with(closer)) {
          p += 2;
          matched = true;
        } else if ((rest[0] == '-' || (rest[0] == '+' && is_stmt)) && rest.substr(1).starts_with(closer)) {
          strip_next_ = rest[0] == '-';
          plus_close_ = rest[0] == '+';
          p += 3;
          matched = true;
        }
        if (matched) break;
      }
      RETURN_IF_ERROR(LexToken(p, depth));
    }
    tokens_.push_back(Token{is_stmt ? TokenKind::kStmtEnd : TokenKind::kExprEnd, "", 0, 0, p});
    if (is_stmt && !strip_next_ && !plus_close_) trim_newline_ = options_.trim_blocks;
    plus_close_ = false;
    if (is_stmt && tokens_.size() == first_token + 2 && tokens_[first_token].kind == TokenKind::kName &&
        tokens_[first_token].text == "raw") {
      return LexRaw(open, p);
    }
    return p;
  }

  // {% raw %}...{% endraw %}: the contents become text verbatim.
  StatusOr<size_t> LexRaw(size_t open, size_t p) {
    tokens_.resize(tokens_.size() - 3);  // drop {% raw %}
    for (size_t i = src_.find("{%", p); i != std::string_view::npos; i = src_.find("{%", i + 2)) {
      size_t q = i + 2;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ++q;
      while (q < src_.size() && IsSpace(src_[q])) ++q;
      if (src_.substr(q, 6) != "endraw") continue;
      q += 6;
      while (q < src_.size() && IsSpace(src_[q])) ++q;
      const bool strip = q < src_.size() && src_[q] == '-';
      if (strip) ++q;
      if (src_.substr(q, 2) != "%}") continue;
      std::string text(src_.substr(p, i - p));
      ApplyLeadingControl(text);
      if (src_[i + 2] == '-') {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      }
      PushText(std::move(text), p);
      strip_next_ = strip;
      trim_newline_ = !strip && options_.trim_blocks;
      return q + 2;
    }
    return Error(open, "unterminated '{% raw %}' block");
  }

  Status LexToken(size_t& p, int& depth) {
    const size_t start = p;
    const char c = src_[p];
    if (IsIdentStart(c)) {
      while (p < src_.size() && IsIdentChar(src_[p])) ++p;
      tokens_.push_back(Token{TokenKind::kName, std::string(src_.substr(start, p - start)), 0, 0, start});
      return Status::Ok();
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return LexNumber(p);
    if (c == '\'' || c == '"') return LexString(p);
    static constexpr const char* kTwoChar[] = {"==", "!=", "<=", ">=", "//", "**"};
    for (const char* op : kTwoChar) {
      if (src_.substr(p, 2) == op) {
        tokens_.push_back(Token{TokenKind::kOp, op, 0, 0, start});
        p += 2;
        return Status::Ok();
      }
    }
    if (std::strchr("()[]{},.:|~+-*/%<>=", c) != nullptr && c != '\0') {
      if (c == '(' || c == '[' || c == '{') ++depth;
      if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
      tokens_.push_back(Token{TokenKind::kOp, std::string(1, c), 0, 0, start});
      ++p;
      return Status::Ok();
    }
    return Error(start, std::string("unexpected character '") + c + "'");
  }

  Status LexNumber(size_t& p) {
    const size_t start = p;
    while (p < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) ++p;
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && std::isdigit(static_cast<unsigned char>(src_[p + 1]))) {
      is_float = true;
      ++p;
      while (p < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p]))) ++p;
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) {
        is_float = true;
        p = q;
        while (p < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p]))) ++p;
      }
    }
    std::string digits;
    for (char ch : src_.substr(start, p - start)) {
      if (ch != '_') digits += ch;
    }
    Token tok{is_float ? TokenKind::kFloat : TokenKind::kInt, digits, 0, 0, start};
    if (is_float) {
      tok.float_value = std::strtod(digits.c_str(), nullptr);
    } else {
      errno = 0;
      tok.int_value = std::strtoll(digits.c_str(), nullptr, 10);
      if (errno == ERANGE) return Error(start, "integer literal out of range");
    }
    tokens_.push_back(std::move(tok));
    return Status::Ok();
  }

  Status LexString(size_t& p) {
    const size_t start = p;
    const char quote = src_[p++];
    std::string out;
    while (p < src_.size() && src_[p] != quote) {
      if (src_[p] != '\\' || p + 1 >= src_.size()) {
        out += src_[p++];
        continue;
      }
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case 'a': out += '\a'; break;
        case '0': out += '\0'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '\n': break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (p + n > src_.size()) return Error(p - 2, "truncated escape in string");
          uint32_t cp = 0;
          for (size_t i = 0; i < n; ++i) {
            const char h = src_[p + i];
            if (!std::isxdigit(static_cast<unsigned char>(h))) return Error(p - 2, "bad escape in string");
            cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                                      ? h - '0'
                                                      : (std::tolower(h) - 'a' + 10));
          }
          if (cp > 0x10FFFF) return Error(p - 2, "bad escape in string");
          AppendUtf8(cp, out);
          p += n;
          break;
        }
        default:  // unknown escapes keep their backslash, as in Python
          out += '\\';
          out += e;
      }
    }
    if (p >= src_.size()) return Error(start, "unterminated string literal");
    ++p;
    tokens_.push_back(Token{TokenKind::kString, std::move(out), 0, 0, start});
    return Status::Ok();
  }

  std::string_view src_;
  LexOptions options_;
  std::vector<Token> tokens_;
  bool strip_next_ = false;
  bool trim_newline_ = false;
  bool plus_close_ = false;
  bool line_start_ = true;
  bool at_template_start_ = true;
};

}  // namespace

StatusOr<std::vector<Token>> Lex(std::string_view source, const LexOptions& options) {
  return Lexer(source, options).Run();
}

}  // namespace flotilla::jinja
