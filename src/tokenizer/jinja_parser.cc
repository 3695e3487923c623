// Jinja parser: recursive descent over the lexer's tokens, with Jinja2's operator precedence
// (filters and tests bind tighter than arithmetic; `not` looser than comparisons).
#include <initializer_list>

#include "tokenizer/jinja_ast.h"

namespace flotilla::jinja {
namespace {

// Bounds recursion so that "((((((..." cannot overflow the stack.
constexpr int kMaxParseDepth = 400;

class Parser {
 public:
  Parser(std::string_view src, const std::vector<Token>& tokens) : src_(src), toks_(tokens) {}

  StatusOr<StmtPtr> ParseTemplate() {
    auto root = NewStmt(StmtKind::kBlock, 0);
    ASSIGN_OR_RETURN(std::string end, ParseBody(root->body, {}, "", 0));
    (void)end;
    return root;
  }

 private:
  // ---- helpers ----
  const Token& Peek(size_t ahead = 0) const {
    const size_t i = std::min(cur_ + ahead, toks_.size() - 1);
    return toks_[i];
  }
  const Token& Next() {
    const Token& t = Peek();
    if (cur_ < toks_.size() - 1) ++cur_;
    return t;
  }
  bool IsOp(std::string_view op, size_t ahead = 0) const {
    return Peek(ahead).kind == TokenKind::kOp && Peek(ahead).text == op;
  }
  bool IsName(std::string_view name, size_t ahead = 0) const {
    return Peek(ahead).kind == TokenKind::kName && Peek(ahead).text == name;
  }
  bool AcceptOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool AcceptName(std::string_view name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }
  Status Error(size_t pos, const std::string& what) const {
    return InvalidArgumentError("chat template: " + what + " at " + DescribePosition(src_, pos));
  }
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kEof: return "end of template";
      case TokenKind::kExprEnd: return "'}}'";
      case TokenKind::kStmtEnd: return "'%}'";
      case TokenKind::kString: return "string literal";
      default: return "'" + t.text + "'";
    }
  }
  Status Unexpected(const std::string& expected) const {
    return Error(Peek().pos, "expected " + expected + ", found " + Describe(Peek()));
  }
  Status ExpectOp(std::string_view op) {
    if (AcceptOp(op)) return Status::Ok();
    std::string quoted = "'";  // built in steps: GCC 12 warns (-Wrestrict) on "'" + string + "'"
    quoted.append(op);
    quoted += '\'';
    return Unexpected(quoted);
  }
  Status ExpectStmtEnd() {
    if (Peek().kind == TokenKind::kStmtEnd) {
      Next();
      return Status::Ok();
    }
    return Unexpected("'%}'");
  }
  StatusOr<std::string> ExpectName(const char* what) {
    if (Peek().kind != TokenKind::kName) return Unexpected(what);
    return Next().text;
  }
  static StmtPtr NewStmt(StmtKind kind, size_t pos) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->pos = pos;
    return s;
  }
  static ExprPtr NewExpr(ExprKind kind, size_t pos, std::string name = "") {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    e->name = std::move(name);
    return e;
  }
  struct DepthGuard {
    explicit DepthGuard(int& d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
    int& depth;
  };
  Status CheckDepth() const {
    if (depth_ > kMaxParseDepth) return Error(Peek().pos, "template nested too deeply");
    return Status::Ok();
  }

  // ---- statements ----

  // Parses statements until `{% <one of ends> ...`; returns that word with the cursor just after
  // it, or "" at the end of the template (an error when `ends` is not empty).
  StatusOr<std::string> ParseBody(std::vector<StmtPtr>& out, std::initializer_list<std::string_view> ends,
                                  std::string_view opener, size_t opener_pos) {
    DepthGuard guard(depth_);
    RETURN_IF_ERROR(CheckDepth());
    while (true) {
      const Token& t = Peek();
      if (t.kind == TokenKind::kEof) {
        if (ends.size() == 0) return std::string();
        return Error(opener_pos, "unclosed '{% " + std::string(opener) + " %}' (expected '{% " +
                                     std::string(*ends.begin()) + " %}')");
      }
      if (t.kind == TokenKind::kText) {
        auto s = NewStmt(StmtKind::kText, t.pos);
        s->text = Next().text;
        out.push_back(std::move(s));
        continue;
      }
      if (t.kind == TokenKind::kExprBegin) {
        const size_t pos = Next().pos;
        auto s = NewStmt(StmtKind::kOutput, pos);
        ASSIGN_OR_RETURN(s->expr, ParseExpr());
        if (Peek().kind != TokenKind::kExprEnd) return Unexpected("'}}'");
        Next();
        out.push_back(std::move(s));
        continue;
      }
      if (t.kind != TokenKind::kStmtBegin) return Unexpected("template text or a tag");
      const size_t pos = Next().pos;
      ASSIGN_OR_RETURN(std::string word, ExpectName("a tag name"));
      for (std::string_view end : ends) {
        if (word == end) return word;
      }
      ASSIGN_OR_RETURN(StmtPtr s, ParseStatement(word, pos));
      if (s) out.push_back(std::move(s));
    }
  }

  StatusOr<StmtPtr> ParseStatement(const std::string& word, size_t pos) {
    if (word == "if") return ParseIf(pos, "if");
    if (word == "for") return ParseFor(pos);
    if (word == "set") return ParseSet(pos);
    if (word == "macro") return ParseMacro(pos);
    if (word == "break" || word == "continue") {
      RETURN_IF_ERROR(ExpectStmtEnd());
      return NewStmt(word == "break" ? StmtKind::kBreak : StmtKind::kContinue, pos);
    }
    if (word == "generation") {  // transformers' assistant-mask marker: renders its body
      RETURN_IF_ERROR(ExpectStmtEnd());
      auto s = NewStmt(StmtKind::kBlock, pos);
      ASSIGN_OR_RETURN(std::string end, ParseBody(s->body, {"endgeneration"}, "generation", pos));
      RETURN_IF_ERROR(ExpectStmtEnd());
      return s;
    }
    static constexpr std::string_view kEnds[] = {"endif", "endfor", "endset", "endmacro", "elif", "else",
                                                 "endgeneration", "endraw"};
    for (std::string_view e : kEnds) {
      if (word == e) return Error(pos, "unexpected '{% " + word + " %}'");
    }
    return Error(pos, "unsupported tag '{% " + word + " %}'");
  }

  StatusOr<StmtPtr> ParseIf(size_t pos, const char* opener) {
    auto s = NewStmt(StmtKind::kIf, pos);
    ASSIGN_OR_RETURN(s->expr, ParseExpr());
    RETURN_IF_ERROR(ExpectStmtEnd());
    ASSIGN_OR_RETURN(std::string end, ParseBody(s->body, {"endif", "elif", "else"}, opener, pos));
    if (end == "elif") {
      ASSIGN_OR_RETURN(StmtPtr elif, ParseIf(Peek().pos, "elif"));
      s->else_body.push_back(std::move(elif));
      return s;  // the nested if consumed the endif
    }
    if (end == "else") {
      RETURN_IF_ERROR(ExpectStmtEnd());
      ASSIGN_OR_RETURN(end, ParseBody(s->else_body, {"endif"}, opener, pos));
    }
    RETURN_IF_ERROR(ExpectStmtEnd());
    return s;
  }

  StatusOr<StmtPtr> ParseFor(size_t pos) {
    auto s = NewStmt(StmtKind::kFor, pos);
    do {
      ASSIGN_OR_RETURN(std::string target, ExpectName("a loop variable"));
      s->targets.push_back(std::move(target));
    } while (AcceptOp(","));
    if (!AcceptName("in")) return Unexpected("'in'");
    ASSIGN_OR_RETURN(s->expr, ParseExpr(/*allow_condition=*/false));
    if (AcceptName("if")) {
      ASSIGN_OR_RETURN(s->cond, ParseExpr(/*allow_condition=*/false));
    }
    if (IsName("recursive")) return Error(Peek().pos, "unsupported 'recursive' loop");
    RETURN_IF_ERROR(ExpectStmtEnd());
    ASSIGN_OR_RETURN(std::string end, ParseBody(s->body, {"endfor", "else"}, "for", pos));
    if (end == "else") {
      RETURN_IF_ERROR(ExpectStmtEnd());
      ASSIGN_OR_RETURN(end, ParseBody(s->else_body, {"endfor"}, "for", pos));
    }
    RETURN_IF_ERROR(ExpectStmtEnd());
    return s;
  }

  StatusOr<StmtPtr> ParseSet(size_t pos) {
    auto s = NewStmt(StmtKind::kSet, pos);
    ASSIGN_OR_RETURN(std::string name, ExpectName("a variable name"));
    s->targets.push_back(std::move(name));
    if (AcceptOp(".")) {
      ASSIGN_OR_RETURN(s->attr, ExpectName("an attribute name"));
    } else {
      while (AcceptOp(",")) {
        ASSIGN_OR_RETURN(std::string more, ExpectName("a variable name"));
        s->targets.push_back(std::move(more));
      }
    }
    if (Peek().kind == TokenKind::kStmtEnd && s->targets.size() == 1 && s->attr.empty()) {
      Next();
      s->kind = StmtKind::kSetBlock;
      ASSIGN_OR_RETURN(std::string end, ParseBody(s->body, {"endset"}, "set", pos));
      RETURN_IF_ERROR(ExpectStmtEnd());
      return s;
    }
    RETURN_IF_ERROR(ExpectOp("="));
    ASSIGN_OR_RETURN(s->expr, ParseExpr());
    if (IsOp(",")) {  // set a, b = x, y
      auto list = NewExpr(ExprKind::kList, s->expr->pos);
      list->args.push_back(std::move(s->expr));
      while (AcceptOp(",")) {
        ASSIGN_OR_RETURN(ExprPtr item, ParseExpr());
        list->args.push_back(std::move(item));
      }
      s->expr = std::move(list);
    }
    RETURN_IF_ERROR(ExpectStmtEnd());
    return s;
  }

  StatusOr<StmtPtr> ParseMacro(size_t pos) {
    auto s = NewStmt(StmtKind::kMacro, pos);
    ASSIGN_OR_RETURN(s->text, ExpectName("a macro name"));
    RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      ASSIGN_OR_RETURN(std::string param, ExpectName("a parameter name"));
      s->targets.push_back(std::move(param));
      ExprPtr def;
      if (AcceptOp("=")) {
        ASSIGN_OR_RETURN(def, ParseExpr());
      }
      s->defaults.push_back(std::move(def));
      if (!AcceptOp(",")) break;
    }
    RETURN_IF_ERROR(ExpectOp(")"));
    RETURN_IF_ERROR(ExpectStmtEnd());
    ASSIGN_OR_RETURN(std::string end, ParseBody(s->body, {"endmacro"}, "macro", pos));
    if (Peek().kind == TokenKind::kName) Next();  // {% endmacro name %}
    RETURN_IF_ERROR(ExpectStmtEnd());
    return s;
  }

  // ---- expressions ----

  StatusOr<ExprPtr> ParseExpr(bool allow_condition = true) {
    DepthGuard guard(depth_);
    RETURN_IF_ERROR(CheckDepth());
    ASSIGN_OR_RETURN(ExprPtr e, ParseBinaryLevel(0));
    if (!allow_condition || !IsName("if")) return e;
    auto cond = NewExpr(ExprKind::kCondition, Next().pos);
    cond->args.push_back(std::move(e));
    ASSIGN_OR_RETURN(ExprPtr test, ParseBinaryLevel(0));
    cond->args.push_back(std::move(test));
    if (AcceptName("else")) {
      ASSIGN_OR_RETURN(ExprPtr other, ParseExpr());
      cond->args.push_back(std::move(other));
    } else {
      cond->args.push_back(nullptr);
    }
    return cond;
  }

  // Binary levels, loosest first: or, and, not (unary), comparisons, + -, ~, * / // %, **.
  StatusOr<ExprPtr> ParseBinaryLevel(int level) {
    DepthGuard guard(depth_);
    RETURN_IF_ERROR(CheckDepth());
    if (level == 2) {
      if (IsName("not")) {
        auto e = NewExpr(ExprKind::kUnary, Next().pos, "not");
        ASSIGN_OR_RETURN(ExprPtr operand, ParseBinaryLevel(2));
        e->args.push_back(std::move(operand));
        return e;
      }
      return ParseBinaryLevel(3);
    }
    if (level == 8) return ParseUnary(true);
    ASSIGN_OR_RETURN(ExprPtr left, ParseBinaryLevel(level + 1));
    while (true) {
      std::string op = MatchBinaryOp(level);
      if (op.empty()) return left;
      auto e = NewExpr(ExprKind::kBinary, Peek().pos, op);
      Next();
      if (op == "not in") Next();
      ASSIGN_OR_RETURN(ExprPtr right, ParseBinaryLevel(level + 1));
      e->args.push_back(std::move(left));
      e->args.push_back(std::move(right));
      left = std::move(e);
    }
  }

  std::string MatchBinaryOp(int level) const {
    const Token& t = Peek();
    switch (level) {
      case 0: return IsName("or") ? "or" : "";
      case 1: return IsName("and") ? "and" : "";
      case 3:
        if (IsName("in")) return "in";
        if (IsName("not") && IsName("in", 1)) return "not in";
        if (t.kind == TokenKind::kOp &&
            (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=")) {
          return t.text;
        }
        return "";
      case 4: return (IsOp("+") || IsOp("-")) ? t.text : "";
      case 5: return IsOp("~") ? "~" : "";
      case 6: return (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) ? t.text : "";
      case 7: return IsOp("**") ? "**" : "";
      default: return "";
    }
  }

  StatusOr<ExprPtr> ParseUnary(bool with_filters) {
    DepthGuard guard(depth_);
    RETURN_IF_ERROR(CheckDepth());
    ExprPtr e;
    if (IsOp("-") || IsOp("+")) {
      e = NewExpr(ExprKind::kUnary, Peek().pos, Next().text);
      ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      e->args.push_back(std::move(operand));
    } else {
      ASSIGN_OR_RETURN(e, ParsePrimary());
    }
    ASSIGN_OR_RETURN(e, ParsePostfix(std::move(e)));
    if (!with_filters) return e;
    while (true) {
      if (IsOp("|")) {
        ASSIGN_OR_RETURN(e, ParseFilter(std::move(e)));
      } else if (IsName("is")) {
        ASSIGN_OR_RETURN(e, ParseTest(std::move(e)));
      } else {
        return e;
      }
    }
  }

  StatusOr<ExprPtr> ParseFilter(ExprPtr operand) {
    const size_t pos = Next().pos;  // '|'
    ASSIGN_OR_RETURN(std::string name, ExpectName("a filter name"));
    auto e = NewExpr(ExprKind::kFilter, pos, std::move(name));
    e->args.push_back(std::move(operand));
    if (IsOp("(")) RETURN_IF_ERROR(ParseCallArgs(*e));
    return ParsePostfix(std::move(e));
  }

  StatusOr<ExprPtr> ParseTest(ExprPtr operand) {
    const size_t pos = Next().pos;  // 'is'
    const bool negated = AcceptName("not");
    ASSIGN_OR_RETURN(std::string name, ExpectName("a test name"));
    auto e = NewExpr(ExprKind::kTest, pos, std::move(name));
    e->negated = negated;
    e->args.push_back(std::move(operand));
    if (IsOp("(")) {
      RETURN_IF_ERROR(ParseCallArgs(*e));
    } else if (StartsTestArgument()) {  // `is divisibleby 3`, `is sameas false`
      ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
      ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
      e->args.push_back(std::move(arg));
    }
    return e;
  }

  bool StartsTestArgument() const {
    const Token& t = Peek();
    if (t.kind == TokenKind::kString || t.kind == TokenKind::kInt || t.kind == TokenKind::kFloat) return true;
    if (t.kind != TokenKind::kName) return IsOp("[") || IsOp("{");
    static constexpr std::string_view kStop[] = {"else", "or", "and", "if", "not", "in", "is"};
    for (std::string_view s : kStop) {
      if (t.text == s) return false;
    }
    return true;
  }

  // Parses "(args, name=value)" into e.args (after those already present) and e.kwargs.
  Status ParseCallArgs(Expr& e) {
    RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (Peek().kind == TokenKind::kName && IsOp("=", 1)) {
        std::string key = Next().text;
        Next();
        ASSIGN_OR_RETURN(ExprPtr value, ParseExpr());
        e.kwargs.emplace_back(std::move(key), std::move(value));
      } else {
        if (!e.kwargs.empty()) return Error(Peek().pos, "positional argument after keyword argument");
        ASSIGN_OR_RETURN(ExprPtr value, ParseExpr());
        e.args.push_back(std::move(value));
      }
      if (!AcceptOp(",")) break;
    }
    return ExpectOp(")");
  }

  StatusOr<ExprPtr> ParsePostfix(ExprPtr e) {
    while (true) {
      if (IsOp(".")) {
        const size_t pos = Next().pos;
        if (Peek().kind == TokenKind::kInt) {  // x.0 means x[0]
          auto item = NewExpr(ExprKind::kItem, pos);
          auto index = NewExpr(ExprKind::kLiteral, pos);
          index->literal = Value::Int(Next().int_value);
          item->args.push_back(std::move(e));
          item->args.push_back(std::move(index));
          e = std::move(item);
          continue;
        }
        ASSIGN_OR_RETURN(std::string name, ExpectName("an attribute name"));
        auto attr = NewExpr(ExprKind::kAttr, pos, std::move(name));
        attr->args.push_back(std::move(e));
        e = std::move(attr);
      } else if (IsOp("[")) {
        ASSIGN_OR_RETURN(e, ParseSubscript(std::move(e)));
      } else if (IsOp("(")) {
        auto call = NewExpr(ExprKind::kCall, Peek().pos);
        call->args.push_back(std::move(e));
        RETURN_IF_ERROR(ParseCallArgs(*call));
        e = std::move(call);
      } else {
        return e;
      }
    }
  }

  StatusOr<ExprPtr> ParseSubscript(ExprPtr operand) {
    const size_t pos = Next().pos;  // '['
    ExprPtr parts[3];
    int n_parts = 1;
    for (int i = 0; i < 3; ++i) {
      if (!IsOp(":") && !IsOp("]")) {
        ASSIGN_OR_RETURN(parts[i], ParseExpr());
      }
      if (i < 2 && AcceptOp(":")) {
        n_parts = i + 2;
        continue;
      }
      break;
    }
    RETURN_IF_ERROR(ExpectOp("]"));
    if (n_parts == 1) {
      if (!parts[0]) return Error(pos, "empty subscript");
      auto e = NewExpr(ExprKind::kItem, pos);
      e->args.push_back(std::move(operand));
      e->args.push_back(std::move(parts[0]));
      return e;
    }
    auto e = NewExpr(ExprKind::kSlice, pos);
    e->args.push_back(std::move(operand));
    for (auto& part : parts) e->args.push_back(std::move(part));
    return e;
  }

  StatusOr<ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    const size_t pos = t.pos;
    auto literal = [&](Value v) {
      auto e = NewExpr(ExprKind::kLiteral, pos);
      e->literal = std::move(v);
      return e;
    };
    switch (t.kind) {
      case TokenKind::kString: {
        std::string s;
        while (Peek().kind == TokenKind::kString) s += Next().text;  // "a" "b" concatenates
        return literal(Value::String(std::move(s)));
      }
      case TokenKind::kInt: return literal(Value::Int(Next().int_value));
      case TokenKind::kFloat: return literal(Value::Float(Next().float_value));
      case TokenKind::kName: {
        const std::string& n = Next().text;
        if (n == "true" || n == "True") return literal(Value::Bool(true));
        if (n == "false" || n == "False") return literal(Value::Bool(false));
        if (n == "none" || n == "None") return literal(Value::None());
        return NewExpr(ExprKind::kName, pos, n);
      }
      case TokenKind::kOp:
        if (t.text == "(") return ParseParenthesised();
        if (t.text == "[") return ParseSequence(ExprKind::kList, "]");
        if (t.text == "{") return ParseSequence(ExprKind::kDict, "}");
        break;
      default: break;
    }
    return Unexpected("an expression");
  }

  // "(x)" or a tuple "(a, b)" (evaluated as a list).
  StatusOr<ExprPtr> ParseParenthesised() {
    const size_t pos = Next().pos;
    if (AcceptOp(")")) return NewExpr(ExprKind::kList, pos);
    ASSIGN_OR_RETURN(ExprPtr first, ParseExpr());
    if (AcceptOp(")")) return first;
    auto tuple = NewExpr(ExprKind::kList, pos);
    tuple->args.push_back(std::move(first));
    while (AcceptOp(",")) {
      if (IsOp(")")) break;
      ASSIGN_OR_RETURN(ExprPtr item, ParseExpr());
      tuple->args.push_back(std::move(item));
    }
    RETURN_IF_ERROR(ExpectOp(")"));
    return tuple;
  }

  // "[a, b]" or "{k: v, ...}"; dict entries are stored as key, value pairs in args.
  StatusOr<ExprPtr> ParseSequence(ExprKind kind, std::string_view close) {
    DepthGuard guard(depth_);
    RETURN_IF_ERROR(CheckDepth());
    auto e = NewExpr(kind, Next().pos);
    while (!IsOp(close)) {
      ASSIGN_OR_RETURN(ExprPtr item, ParseExpr());
      e->args.push_back(std::move(item));
      if (kind == ExprKind::kDict) {
        RETURN_IF_ERROR(ExpectOp(":"));
        ASSIGN_OR_RETURN(ExprPtr value, ParseExpr());
        e->args.push_back(std::move(value));
      }
      if (!AcceptOp(",")) break;
    }
    RETURN_IF_ERROR(ExpectOp(close));
    return e;
  }

  std::string_view src_;
  const std::vector<Token>& toks_;
  size_t cur_ = 0;
  int depth_ = 0;
};

}  // namespace

StatusOr<StmtPtr> Parse(std::string_view source, const std::vector<Token>& tokens) {
  if (tokens.empty() || tokens.back().kind != TokenKind::kEof) {
    return InternalError("chat template: token stream without end");
  }
  return Parser(source, tokens).ParseTemplate();
}

}  // namespace flotilla::jinja
