// Tokens and syntax tree of the Jinja interpreter. Internal to src/tokenizer/jinja*.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flotilla/status.h"
#include "tokenizer/jinja_value.h"

namespace flotilla::jinja {

// ---- Lexer -----------------------------------------------------------------------------------

enum class TokenKind {
  kText,        // literal template text (whitespace control already applied)
  kExprBegin,   // {{
  kExprEnd,     // }}
  kStmtBegin,   // {%
  kStmtEnd,     // %}
  kName,        // identifier or keyword
  kString,      // text holds the unescaped contents
  kInt,
  kFloat,
  kOp,          // punctuation / operator; text holds it ("==", "(", "|", ...)
  kEof,
};

struct Token {
  TokenKind kind = TokenKind::kEof;
  std::string text;
  int64_t int_value = 0;
  double float_value = 0;
  size_t pos = 0;  // byte offset in the source
};

struct LexOptions {
  bool trim_blocks = true;    // drop the first newline after a block tag or comment
  bool lstrip_blocks = true;  // drop spaces/tabs before a block tag or comment at a line start
};

// Splits `source` into tokens, ending with kEof. INVALID_ARGUMENT (with line and column) for an
// unterminated tag, comment or string, or a character that cannot start a token.
StatusOr<std::vector<Token>> Lex(std::string_view source, const LexOptions& options);

// "line 3, column 7" for a byte offset in `source`.
std::string DescribePosition(std::string_view source, size_t pos);

// ---- Syntax tree -----------------------------------------------------------------------------

enum class ExprKind {
  kLiteral,     // literal
  kName,        // name
  kAttr,        // args[0].name
  kItem,        // args[0][args[1]]
  kSlice,       // args[0][args[1]:args[2]:args[3]] (absent parts are nullptr)
  kCall,        // args[0](args[1..], kwargs)
  kFilter,      // args[0] | name(args[1..], kwargs)
  kTest,        // args[0] is [not] name(args[1..])
  kUnary,       // op args[0]: "not", "-", "+"
  kBinary,      // args[0] op args[1]
  kList,        // [args...]
  kDict,        // {args[0]: args[1], ...}
  kCondition,   // args[0] if args[1] else args[2] (args[2] may be nullptr)
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  size_t pos = 0;
  std::string name;  // name, attribute, filter, test or operator
  bool negated = false;  // kTest: "is not"
  Value literal;
  std::vector<std::unique_ptr<Expr>> args;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
};
using ExprPtr = std::unique_ptr<Expr>;

enum class StmtKind {
  kText,     // text
  kOutput,   // {{ expr }}
  kIf,       // if expr: body else else_body (elif becomes a nested kIf in else_body)
  kFor,      // for targets in expr [if cond]: body else else_body
  kSet,      // set targets = expr, or set target.attr = expr (attr non-empty)
  kSetBlock, // set target %}body{% endset
  kMacro,    // macro name(params with defaults): body
  kBreak,
  kContinue,
  kBlock,    // a scope-less group: {% generation %} bodies and the template root
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  size_t pos = 0;
  std::string text;                  // kText contents; kMacro / kSet name
  std::string attr;                  // kSet: namespace attribute
  std::vector<std::string> targets;  // kFor / kSet targets; kMacro parameter names
  std::vector<ExprPtr> defaults;     // kMacro: one per parameter (nullptr when none)
  ExprPtr expr;
  ExprPtr cond;                      // kFor: loop filter
  std::vector<std::unique_ptr<Stmt>> body;
  std::vector<std::unique_ptr<Stmt>> else_body;
};
using StmtPtr = std::unique_ptr<Stmt>;

// Parses the tokens of `source` into a kBlock root. INVALID_ARGUMENT naming the construct and
// its position for unknown tags, unclosed blocks and malformed expressions.
StatusOr<StmtPtr> Parse(std::string_view source, const std::vector<Token>& tokens);

}  // namespace flotilla::jinja
