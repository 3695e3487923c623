// The tree-walking evaluator behind jinja::Template, and the builtin filters, tests, methods and
// globals it dispatches to. Internal to src/tokenizer/jinja*.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/jinja.h"

namespace flotilla::jinja {

class Interpreter {
 public:
  Interpreter(std::string_view source, const RenderLimits& limits) : source_(source), limits_(limits) {}

  // Renders `root` with `variables` on top of the builtin globals into *out.
  Status Run(const Stmt& root, const ValueDict& variables, std::string* out);

  // Spends `units` of the step budget; RESOURCE_EXHAUSTED when it runs out.
  Status Charge(uint64_t units);
  // RESOURCE_EXHAUSTED when a string of `bytes` or a list of `items` would exceed the limits.
  Status CheckSize(size_t bytes, size_t items = 0) const;
  const RenderLimits& limits() const { return limits_; }

 private:
  enum class Control { kNone, kBreak, kContinue };

  Status Exec(const Stmt& s);
  Status ExecInner(const Stmt& s);
  StatusOr<Value> EvalInner(const Expr& e);
  Status ExecBody(const std::vector<StmtPtr>& body);
  Status ExecFor(const Stmt& s);
  Status ExecSet(const Stmt& s);
  Status ExecMacro(const Stmt& s);
  Status Emit(std::string_view text);
  StatusOr<std::string> RenderToString(const std::vector<StmtPtr>& body);

  StatusOr<Value> Eval(const Expr& e);
  StatusOr<Value> EvalAttr(const Expr& e);
  StatusOr<Value> EvalUnary(const Expr& e);
  StatusOr<Value> EvalCollection(const Expr& e);
  StatusOr<Value> EvalBinary(const Expr& e);
  StatusOr<Value> EvalArithmetic(std::string_view op, const Value& a, const Value& b);
  StatusOr<Value> EvalSequenceOp(std::string_view op, const Value& a, const Value& b);
  StatusOr<Value> EvalCall(const Expr& e);
  StatusOr<Value> EvalSlice(const Expr& e);
  StatusOr<CallArgs> EvalArgs(const Expr& e, size_t first);
  StatusOr<Value> CallMacro(const Stmt& macro, const CallArgs& args);
  StatusOr<std::vector<Value>> Iterate(const Value& v);

  Value Lookup(const std::string& name) const;
  void Assign(const std::string& name, Value v);
  // "chat template: <what> at line L, column C" (messages already positioned pass through).
  Status Error(size_t pos, const std::string& what) const;
  Status AtPosition(const Status& st, size_t pos) const;

  std::string_view source_;
  RenderLimits limits_;
  std::string* out_ = nullptr;
  std::vector<std::unordered_map<std::string, Value>> frames_;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;  // nesting of Exec/Eval across macro calls; bounds stack use
  Control control_ = Control::kNone;
};

// ---- builtins (jinja_builtins.cc); errors carry no position, the caller adds it ----

// `value | name(args)`. INVALID_ARGUMENT "unknown filter 'x'" for filters we do not have.
StatusOr<Value> ApplyFilter(Interpreter& interp, std::string_view name, const Value& value, const CallArgs& args);
// `value is name(args)`. INVALID_ARGUMENT "unknown test 'x'".
StatusOr<bool> ApplyTest(Interpreter& interp, std::string_view name, const Value& value, const CallArgs& args);
// `obj.name(args)` for str, dict and list methods; nullopt-like NOT_FOUND when obj has no such method.
StatusOr<Value> CallMethod(Interpreter& interp, const Value& obj, std::string_view name, const CallArgs& args);
bool HasMethod(const Value& obj, std::string_view name);
// The step cost of touching `v` once: proportional to its size (strings per 64 bytes).
uint64_t WorkUnits(const Value& v);
// range, namespace, dict, raise_exception, strftime_now.
void AddGlobals(std::unordered_map<std::string, Value>& globals);
// Python slice semantics: the indices of v[start:stop:step] for a sequence of length n.
StatusOr<std::vector<size_t>> SliceIndices(int64_t n, const Value& start, const Value& stop, const Value& step);

}  // namespace flotilla::jinja
