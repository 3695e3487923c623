// Evaluation of the Jinja syntax tree: statements, expressions and scoping. Builtin filters,
// tests and methods live in jinja_builtins.cc.
#include <cmath>
#include <limits>

#include "tokenizer/jinja_interp.h"

namespace flotilla::jinja {

// ---- Template ----------------------------------------------------------------------------------

StatusOr<Template> Template::Parse(std::string_view source, const LexOptions& options) {
  Template t;
  t.source_ = std::make_shared<const std::string>(source);
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(*t.source_, options));
  ASSIGN_OR_RETURN(StmtPtr root, jinja::Parse(*t.source_, tokens));
  t.root_ = std::shared_ptr<const Stmt>(std::move(root));
  return t;
}

StatusOr<std::string> Template::Render(const ValueDict& variables, const RenderLimits& limits) const {
  std::string out;
  Interpreter interp(*source_, limits);
  RETURN_IF_ERROR(interp.Run(*root_, variables, &out));
  return out;
}

// ---- Interpreter: plumbing ---------------------------------------------------------------------

Status Interpreter::Run(const Stmt& root, const ValueDict& variables, std::string* out) {
  out_ = out;
  frames_.assign(2, {});
  AddGlobals(frames_[0]);
  for (const auto& [k, v] : variables.items()) frames_[0][k] = v;
  Status st = ExecBody(root.body);
  frames_.clear();  // drop values (and macro closures) before returning
  return st;
}

Status Interpreter::Charge(uint64_t units) {
  steps_ += units;
  if (steps_ > limits_.max_steps) {
    return ResourceExhaustedError("chat template: rendering exceeded " + std::to_string(limits_.max_steps) +
                                  " steps (runaway loop?)");
  }
  return Status::Ok();
}

Status Interpreter::CheckSize(size_t bytes, size_t items) const {
  if (bytes > limits_.max_output_bytes) {
    return ResourceExhaustedError("chat template: text longer than " + std::to_string(limits_.max_output_bytes) +
                                  " bytes");
  }
  if (items > limits_.max_collection_size) {
    return ResourceExhaustedError("chat template: list longer than " +
                                  std::to_string(limits_.max_collection_size) + " items");
  }
  return Status::Ok();
}

Status Interpreter::Error(size_t pos, const std::string& what) const {
  return InvalidArgumentError("chat template: " + what + " at " + DescribePosition(source_, pos));
}

Status Interpreter::AtPosition(const Status& st, size_t pos) const {
  if (st.ok() || st.message().starts_with("chat template")) return st;
  return Status(st.code(), "chat template: " + st.message() + " at " + DescribePosition(source_, pos));
}

Value Interpreter::Lookup(const std::string& name) const {
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
    auto found = it->find(name);
    if (found != it->end()) return found->second;
  }
  return Value::Undefined(name);
}

void Interpreter::Assign(const std::string& name, Value v) { frames_.back()[name] = std::move(v); }

Status Interpreter::Emit(std::string_view text) {
  RETURN_IF_ERROR(CheckSize(out_->size() + text.size()));
  RETURN_IF_ERROR(Charge(text.size() / 64));
  out_->append(text);
  return Status::Ok();
}

StatusOr<std::string> Interpreter::RenderToString(const std::vector<StmtPtr>& body) {
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  Status st = ExecBody(body);
  out_ = saved;
  RETURN_IF_ERROR(st);
  return buffer;
}

// ---- statements --------------------------------------------------------------------------------

Status Interpreter::ExecBody(const std::vector<StmtPtr>& body) {
  for (const StmtPtr& s : body) {
    RETURN_IF_ERROR(Exec(*s));
    if (control_ != Control::kNone) return Status::Ok();
  }
  return Status::Ok();
}

namespace {
// Counts nesting for the duration of one Exec/Eval call.
struct DepthScope {
  explicit DepthScope(int& d) : depth(d) { ++depth; }
  ~DepthScope() { --depth; }
  int& depth;
};
}  // namespace

Status Interpreter::Exec(const Stmt& s) {
  DepthScope scope(eval_depth_);
  if (eval_depth_ > limits_.max_eval_depth) {
    return ResourceExhaustedError("chat template: evaluation nested deeper than " +
                                  std::to_string(limits_.max_eval_depth) + " at " + DescribePosition(source_, s.pos));
  }
  return ExecInner(s);
}

Status Interpreter::ExecInner(const Stmt& s) {
  RETURN_IF_ERROR(Charge(1));
  switch (s.kind) {
    case StmtKind::kText: return Emit(s.text);
    case StmtKind::kOutput: {
      ASSIGN_OR_RETURN(Value v, Eval(*s.expr));
      return Emit(ToOutputString(v));
    }
    case StmtKind::kIf: {
      ASSIGN_OR_RETURN(Value cond, Eval(*s.expr));
      return ExecBody(cond.Truthy() ? s.body : s.else_body);
    }
    case StmtKind::kFor: return ExecFor(s);
    case StmtKind::kSet:
    case StmtKind::kSetBlock: return ExecSet(s);
    case StmtKind::kMacro: return ExecMacro(s);
    case StmtKind::kBreak:
    case StmtKind::kContinue: {
      bool in_loop = false;
      for (const auto& frame : frames_) in_loop = in_loop || frame.count("loop") > 0;
      if (!in_loop) return Error(s.pos, "'break' or 'continue' outside a loop");
      control_ = s.kind == StmtKind::kBreak ? Control::kBreak : Control::kContinue;
      return Status::Ok();
    }
    case StmtKind::kBlock: return ExecBody(s.body);
  }
  return Status::Ok();
}

StatusOr<std::vector<Value>> Interpreter::Iterate(const Value& v) {
  std::vector<Value> items;
  switch (v.kind()) {
    case Value::Kind::kUndefined: return items;  // Jinja: iterating undefined yields nothing
    case Value::Kind::kList: return v.list();
    case Value::Kind::kDict:
      for (const auto& [k, item] : v.dict().items()) items.push_back(Value::String(k));
      return items;
    case Value::Kind::kString: {
      RETURN_IF_ERROR(CheckSize(0, v.str().size()));  // one item per byte at most
      const std::vector<size_t> offs = CodePointOffsets(v.str());
      for (size_t i = 0; i + 1 < offs.size(); ++i) {
        items.push_back(Value::String(v.str().substr(offs[i], offs[i + 1] - offs[i])));
      }
      return items;
    }
    default: return InvalidArgumentError("'" + std::string(v.TypeName()) + "' object is not iterable");
  }
}

// Binds `item` to the loop targets: one name, or several unpacked from a list.
static Status BindTargets(const std::vector<std::string>& targets, const Value& item,
                          std::unordered_map<std::string, Value>& frame) {
  if (targets.size() == 1) {
    frame[targets[0]] = item;
    return Status::Ok();
  }
  if (!item.is_list() || item.list().size() != targets.size()) {
    return InvalidArgumentError("cannot unpack " + std::string(item.TypeName()) + " into " +
                                std::to_string(targets.size()) + " variables");
  }
  for (size_t i = 0; i < targets.size(); ++i) frame[targets[i]] = item.list()[i];
  return Status::Ok();
}

static Value MakeLoopInfo(const std::vector<Value>& items, size_t i) {
  const size_t n = items.size();
  ValueDict loop;
  loop.Set("index", Value::Int(static_cast<int64_t>(i + 1)));
  loop.Set("index0", Value::Int(static_cast<int64_t>(i)));
  loop.Set("revindex", Value::Int(static_cast<int64_t>(n - i)));
  loop.Set("revindex0", Value::Int(static_cast<int64_t>(n - i - 1)));
  loop.Set("first", Value::Bool(i == 0));
  loop.Set("last", Value::Bool(i + 1 == n));
  loop.Set("length", Value::Int(static_cast<int64_t>(n)));
  loop.Set("previtem", i > 0 ? items[i - 1] : Value::Undefined("previtem"));
  loop.Set("nextitem", i + 1 < n ? items[i + 1] : Value::Undefined("nextitem"));
  loop.Set("cycle", Value::Function("cycle", [i](Interpreter&, const CallArgs& args) -> StatusOr<Value> {
             if (args.positional.empty()) return InvalidArgumentError("loop.cycle() needs arguments");
             return args.positional[i % args.positional.size()];
           }));
  return Value::Dict(std::move(loop));
}

Status Interpreter::ExecFor(const Stmt& s) {
  ASSIGN_OR_RETURN(Value iterable, Eval(*s.expr));
  StatusOr<std::vector<Value>> all = Iterate(iterable);
  if (!all.ok()) return AtPosition(all.status(), s.expr->pos);
  frames_.emplace_back();
  std::vector<Value> items;
  if (s.cond) {  // the loop filter runs before loop.* is computed, as in Jinja
    for (const Value& item : *all) {
      RETURN_IF_ERROR(Charge(1));
      RETURN_IF_ERROR(AtPosition(BindTargets(s.targets, item, frames_.back()), s.pos));
      ASSIGN_OR_RETURN(Value keep, Eval(*s.cond));
      if (keep.Truthy()) items.push_back(item);
    }
  } else {
    items = std::move(*all);
  }
  Status st;
  for (size_t i = 0; i < items.size() && st.ok(); ++i) {
    st = Charge(1);
    if (st.ok()) st = AtPosition(BindTargets(s.targets, items[i], frames_.back()), s.pos);
    if (!st.ok()) break;
    frames_.back()["loop"] = MakeLoopInfo(items, i);
    st = ExecBody(s.body);
    if (control_ == Control::kBreak) {
      control_ = Control::kNone;
      break;
    }
    control_ = Control::kNone;
  }
  frames_.pop_back();
  RETURN_IF_ERROR(st);
  if (items.empty()) return ExecBody(s.else_body);
  return Status::Ok();
}

Status Interpreter::ExecSet(const Stmt& s) {
  Value v;
  if (s.kind == StmtKind::kSetBlock) {
    ASSIGN_OR_RETURN(std::string text, RenderToString(s.body));
    v = Value::String(std::move(text));
  } else {
    ASSIGN_OR_RETURN(v, Eval(*s.expr));
  }
  if (!s.attr.empty()) {
    Value target = Lookup(s.targets[0]);
    if (target.kind() != Value::Kind::kNamespace) {
      return Error(s.pos, "cannot assign attribute '" + s.attr + "' on '" + s.targets[0] +
                              "', which is not a namespace()");
    }
    if (ValueContains(v, target.identity())) return Error(s.pos, "cannot store a namespace inside itself");
    target.dict().Set(s.attr, std::move(v));
    return Status::Ok();
  }
  if (s.targets.size() == 1) {
    Assign(s.targets[0], std::move(v));
    return Status::Ok();
  }
  std::unordered_map<std::string, Value> bound;
  RETURN_IF_ERROR(AtPosition(BindTargets(s.targets, v, bound), s.pos));
  for (auto& [k, item] : bound) Assign(k, std::move(item));
  return Status::Ok();
}

Status Interpreter::ExecMacro(const Stmt& s) {
  const Stmt* macro = &s;
  Assign(s.text, Value::Function(s.text, [macro](Interpreter& interp, const CallArgs& args) {
           return interp.CallMacro(*macro, args);
         }));
  return Status::Ok();
}

StatusOr<Value> Interpreter::CallMacro(const Stmt& macro, const CallArgs& args) {
  if (call_depth_ >= limits_.max_call_depth) {
    return ResourceExhaustedError("chat template: macro calls nested deeper than " +
                                  std::to_string(limits_.max_call_depth));
  }
  if (args.positional.size() > macro.targets.size()) {
    return InvalidArgumentError("macro '" + macro.text + "' takes " + std::to_string(macro.targets.size()) +
                                " arguments");
  }
  std::unordered_map<std::string, Value> frame;
  for (size_t i = 0; i < macro.targets.size(); ++i) {
    const std::string& param = macro.targets[i];
    if (i < args.positional.size()) {
      frame[param] = args.positional[i];
    } else if (const Value* kw = args.Keyword(param)) {
      frame[param] = *kw;
    } else if (macro.defaults[i]) {
      ASSIGN_OR_RETURN(frame[param], Eval(*macro.defaults[i]));
    } else {
      frame[param] = Value::Undefined(param);
    }
  }
  ++call_depth_;
  frames_.push_back(std::move(frame));
  const Control saved = control_;
  StatusOr<std::string> text = RenderToString(macro.body);
  control_ = saved;
  frames_.pop_back();
  --call_depth_;
  if (!text.ok()) return text.status();
  return Value::String(std::move(*text));
}

// ---- expressions -------------------------------------------------------------------------------

static StatusOr<Value> GetItem(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Value::Kind::kUndefined: return InvalidArgumentError("'" + obj.str() + "' is undefined");
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: {
      if (!key.is_string()) return Value::Undefined(ToOutputString(key));
      const Value* v = obj.dict().Find(key.str());
      return v ? *v : Value::Undefined(key.str());
    }
    case Value::Kind::kList:
    case Value::Kind::kString: {
      if (key.kind() != Value::Kind::kInt && key.kind() != Value::Kind::kBool) return Value::Undefined("item");
      std::vector<size_t> offs;
      if (obj.is_string()) offs = CodePointOffsets(obj.str());
      const int64_t n = obj.is_list() ? static_cast<int64_t>(obj.list().size()) : static_cast<int64_t>(offs.size()) - 1;
      int64_t i = key.int_value();
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::Undefined("index " + std::to_string(key.int_value()));
      if (obj.is_list()) return obj.list()[static_cast<size_t>(i)];
      return Value::String(obj.str().substr(offs[i], offs[i + 1] - offs[i]));
    }
    default: return Value::Undefined(ToOutputString(key));
  }
}

StatusOr<Value> Interpreter::Eval(const Expr& e) {
  DepthScope scope(eval_depth_);
  if (eval_depth_ > limits_.max_eval_depth) {
    return ResourceExhaustedError("chat template: evaluation nested deeper than " +
                                  std::to_string(limits_.max_eval_depth) + " at " + DescribePosition(source_, e.pos));
  }
  return EvalInner(e);
}

StatusOr<Value> Interpreter::EvalInner(const Expr& e) {
  RETURN_IF_ERROR(Charge(1));
  switch (e.kind) {
    case ExprKind::kLiteral: return e.literal;
    case ExprKind::kName: return Lookup(e.name);
    case ExprKind::kAttr: return EvalAttr(e);
    case ExprKind::kItem: {
      ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
      ASSIGN_OR_RETURN(Value key, Eval(*e.args[1]));
      if (obj.is_string()) RETURN_IF_ERROR(Charge(WorkUnits(obj)));
      StatusOr<Value> v = GetItem(obj, key);
      if (!v.ok()) return AtPosition(v.status(), e.pos);
      return v;
    }
    case ExprKind::kSlice: return EvalSlice(e);
    case ExprKind::kCall: return EvalCall(e);
    case ExprKind::kFilter: {
      ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
      StatusOr<Value> r = ApplyFilter(*this, e.name, v, args);
      if (!r.ok()) return AtPosition(r.status(), e.pos);
      return r;
    }
    case ExprKind::kTest: {
      ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
      StatusOr<bool> r = ApplyTest(*this, e.name, v, args);
      if (!r.ok()) return AtPosition(r.status(), e.pos);
      return Value::Bool(*r != e.negated);
    }
    case ExprKind::kUnary: return EvalUnary(e);
    case ExprKind::kBinary: return EvalBinary(e);
    case ExprKind::kList:
    case ExprKind::kDict: return EvalCollection(e);
    case ExprKind::kCondition: {
      ASSIGN_OR_RETURN(Value cond, Eval(*e.args[1]));
      if (cond.Truthy()) return Eval(*e.args[0]);
      if (e.args[2]) return Eval(*e.args[2]);
      return Value::Undefined("else");
    }
  }
  return Error(e.pos, "unknown expression");
}

StatusOr<Value> Interpreter::EvalAttr(const Expr& e) {
  ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
  if (obj.is_undefined()) return Error(e.pos, "'" + obj.str() + "' is undefined (reading ." + e.name + ")");
  if (obj.is_mapping()) {
    const Value* v = obj.dict().Find(e.name);
    return v ? *v : Value::Undefined(e.name);
  }
  return Value::Undefined(e.name);
}

StatusOr<Value> Interpreter::EvalUnary(const Expr& e) {
  ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
  if (e.name == "not") return Value::Bool(!v.Truthy());
  if (v.kind() == Value::Kind::kFloat) return Value::Float(e.name == "-" ? -v.float_value() : v.float_value());
  if (!v.is_number()) {
    return Error(e.pos, "bad operand type for unary " + e.name + ": '" + std::string(v.TypeName()) + "'");
  }
  if (e.name == "-" && v.int_value() == std::numeric_limits<int64_t>::min()) return Error(e.pos, "integer overflow");
  return Value::Int(e.name == "-" ? -v.int_value() : v.int_value());
}

// List and dict displays; dict args alternate key, value.
StatusOr<Value> Interpreter::EvalCollection(const Expr& e) {
  if (e.kind == ExprKind::kList) {
    ValueList items;
    for (const ExprPtr& item : e.args) {
      ASSIGN_OR_RETURN(Value v, Eval(*item));
      items.push_back(std::move(v));
    }
    return Value::List(std::move(items));
  }
  ValueDict dict;
  for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
    ASSIGN_OR_RETURN(Value k, Eval(*e.args[i]));
    ASSIGN_OR_RETURN(Value v, Eval(*e.args[i + 1]));
    if (!k.is_string()) return Error(e.args[i]->pos, "dict keys must be strings");
    dict.Set(k.str(), std::move(v));
  }
  return Value::Dict(std::move(dict));
}

StatusOr<CallArgs> Interpreter::EvalArgs(const Expr& e, size_t first) {
  CallArgs args;
  for (size_t i = first; i < e.args.size(); ++i) {
    ASSIGN_OR_RETURN(Value v, Eval(*e.args[i]));
    args.positional.push_back(std::move(v));
  }
  for (const auto& [k, expr] : e.kwargs) {
    ASSIGN_OR_RETURN(Value v, Eval(*expr));
    args.keyword.emplace_back(k, std::move(v));
  }
  return args;
}

StatusOr<Value> Interpreter::EvalCall(const Expr& e) {
  const Expr& callee = *e.args[0];
  if (callee.kind == ExprKind::kAttr) {  // obj.method(...)
    ASSIGN_OR_RETURN(Value obj, Eval(*callee.args[0]));
    if (obj.is_undefined()) {
      return Error(callee.pos, "'" + obj.str() + "' is undefined (calling ." + callee.name + "())");
    }
    if (HasMethod(obj, callee.name)) {
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
      StatusOr<Value> r = CallMethod(*this, obj, callee.name, args);
      if (!r.ok()) return AtPosition(r.status(), callee.pos);
      return r;
    }
  }
  ASSIGN_OR_RETURN(Value fn, Eval(callee));
  if (fn.kind() != Value::Kind::kFunction) {
    const std::string what = callee.kind == ExprKind::kName || callee.kind == ExprKind::kAttr
                                 ? "'" + callee.name + "'"
                                 : "a " + std::string(fn.TypeName()) + " value";
    return Error(callee.pos, fn.is_undefined() ? "unknown function " + what : what + " is not callable");
  }
  ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
  StatusOr<Value> r = fn.function()(*this, args);
  if (!r.ok()) return AtPosition(r.status(), e.pos);
  return r;
}

StatusOr<Value> Interpreter::EvalSlice(const Expr& e) {
  ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
  Value parts[3];
  for (int i = 0; i < 3; ++i) {
    if (e.args[i + 1]) {
      ASSIGN_OR_RETURN(parts[i], Eval(*e.args[i + 1]));
    } else {
      parts[i] = Value::None();
    }
  }
  if (!obj.is_list() && !obj.is_string()) {
    return Error(e.pos, "cannot slice a '" + std::string(obj.TypeName()) + "' value");
  }
  RETURN_IF_ERROR(Charge(WorkUnits(obj)));
  std::vector<size_t> offs;
  if (obj.is_string()) offs = CodePointOffsets(obj.str());
  const int64_t n = obj.is_list() ? static_cast<int64_t>(obj.list().size()) : static_cast<int64_t>(offs.size()) - 1;
  StatusOr<std::vector<size_t>> idx = SliceIndices(n, parts[0], parts[1], parts[2]);
  if (!idx.ok()) return AtPosition(idx.status(), e.pos);
  RETURN_IF_ERROR(Charge(idx->size()));
  if (obj.is_list()) {
    ValueList items;
    for (size_t i : *idx) items.push_back(obj.list()[i]);
    return Value::List(std::move(items));
  }
  std::string s;
  for (size_t i : *idx) s.append(obj.str(), offs[i], offs[i + 1] - offs[i]);
  return Value::String(std::move(s));
}

StatusOr<Value> Interpreter::EvalBinary(const Expr& e) {
  const std::string& op = e.name;
  ASSIGN_OR_RETURN(Value a, Eval(*e.args[0]));
  if (op == "and") return a.Truthy() ? Eval(*e.args[1]) : a;
  if (op == "or") return a.Truthy() ? a : Eval(*e.args[1]);
  ASSIGN_OR_RETURN(Value b, Eval(*e.args[1]));
  RETURN_IF_ERROR(Charge(WorkUnits(a) / 2 + WorkUnits(b) / 2));
  if (op == "==") return Value::Bool(ValuesEqual(a, b));
  if (op == "!=") return Value::Bool(!ValuesEqual(a, b));
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    std::optional<int> c = CompareValues(a, b);
    if (!c) {
      return Error(e.pos, "'" + op + "' not supported between '" + std::string(a.TypeName()) + "' and '" +
                              std::string(b.TypeName()) + "'");
    }
    const bool r = op == "<" ? *c < 0 : op == "<=" ? *c <= 0 : op == ">" ? *c > 0 : *c >= 0;
    return Value::Bool(r);
  }
  if (op == "in" || op == "not in") {
    CallArgs args;
    args.positional.push_back(b);
    StatusOr<bool> r = ApplyTest(*this, "in", a, args);
    if (!r.ok()) return AtPosition(r.status(), e.pos);
    return Value::Bool(*r == (op == "in"));
  }
  if (op == "~") {
    std::string s = ToOutputString(a) + ToOutputString(b);
    RETURN_IF_ERROR(CheckSize(s.size()));
    RETURN_IF_ERROR(Charge(s.size() / 64));
    return Value::String(std::move(s));
  }
  StatusOr<Value> r = EvalArithmetic(op, a, b);
  if (!r.ok()) return AtPosition(r.status(), e.pos);
  return r;
}

// str + str, list + list, str * int, list * int, within the size limits.
StatusOr<Value> Interpreter::EvalSequenceOp(std::string_view op, const Value& a, const Value& b) {
  if (op == "+" && a.is_string() && b.is_string()) {
    RETURN_IF_ERROR(CheckSize(a.str().size() + b.str().size()));
    RETURN_IF_ERROR(Charge((a.str().size() + b.str().size()) / 64));
    return Value::String(a.str() + b.str());
  }
  if (op == "+" && a.is_list() && b.is_list()) {
    RETURN_IF_ERROR(CheckSize(0, a.list().size() + b.list().size()));
    RETURN_IF_ERROR(Charge(a.list().size() + b.list().size()));
    ValueList items = a.list();
    items.insert(items.end(), b.list().begin(), b.list().end());
    return Value::List(std::move(items));
  }
  // repetition: str * int, list * int
  const int64_t n = std::max<int64_t>(0, b.int_value());
  const size_t unit = a.is_string() ? a.str().size() : a.list().size();
  if (unit == 0) return a.is_string() ? Value::String("") : Value::List({});
  if (static_cast<uint64_t>(n) > limits_.max_output_bytes) return CheckSize(SIZE_MAX);
  RETURN_IF_ERROR(a.is_string() ? CheckSize(unit * n) : CheckSize(0, unit * n));
  RETURN_IF_ERROR(Charge(unit * n / (a.is_string() ? 64 : 1)));
  if (a.is_string()) {
    std::string s;
    for (int64_t i = 0; i < n; ++i) s += a.str();
    return Value::String(std::move(s));
  }
  ValueList items;
  for (int64_t i = 0; i < n; ++i) items.insert(items.end(), a.list().begin(), a.list().end());
  return Value::List(std::move(items));
}

StatusOr<Value> Interpreter::EvalArithmetic(std::string_view op, const Value& a, const Value& b) {
  auto unsupported = [&]() {
    if (a.is_undefined() || b.is_undefined()) {
      return InvalidArgumentError("'" + (a.is_undefined() ? a : b).str() + "' is undefined");
    }
    return InvalidArgumentError("unsupported operand types for " + std::string(op) + ": '" +
                                std::string(a.TypeName()) + "' and '" + std::string(b.TypeName()) + "'");
  };
  const bool repeat = op == "*" && (a.is_string() || a.is_list()) && (b.kind() == Value::Kind::kInt || b.kind() == Value::Kind::kBool);
  const bool concat = op == "+" && ((a.is_string() && b.is_string()) || (a.is_list() && b.is_list()));
  if (repeat || concat) return EvalSequenceOp(op, a, b);
  if (!a.is_number() || !b.is_number()) return unsupported();
  const bool ints = a.kind() != Value::Kind::kFloat && b.kind() != Value::Kind::kFloat;
  const double x = a.float_value(), y = b.float_value();
  if ((op == "/" || op == "//" || op == "%") && y == 0) return InvalidArgumentError("division by zero");
  if (ints) {
    const int64_t i = a.int_value(), j = b.int_value();
    int64_t r = 0;
    bool overflow = false;
    if (op == "+") overflow = __builtin_add_overflow(i, j, &r);
    if (op == "-") overflow = __builtin_sub_overflow(i, j, &r);
    if (op == "*") overflow = __builtin_mul_overflow(i, j, &r);
    if (op == "//" || op == "%") {
      if (i == std::numeric_limits<int64_t>::min() && j == -1) return InvalidArgumentError("integer overflow");
      int64_t q = i / j, m = i % j;
      if (m != 0 && ((m < 0) != (j < 0))) {
        --q;
        m += j;
      }
      return Value::Int(op == "//" ? q : m);
    }
    if (overflow) return InvalidArgumentError("integer overflow");
    if (op == "+" || op == "-" || op == "*") return Value::Int(r);
    if (op == "**" && j >= 0) {
      const double p = std::pow(x, y);
      if (std::fabs(p) >= 9.2e18) return InvalidArgumentError("integer overflow");
      return Value::Int(static_cast<int64_t>(std::llround(p)));
    }
  }
  if (op == "+") return Value::Float(x + y);
  if (op == "-") return Value::Float(x - y);
  if (op == "*") return Value::Float(x * y);
  if (op == "/") return Value::Float(x / y);
  if (op == "//") return Value::Float(std::floor(x / y));
  if (op == "%") return Value::Float(x - std::floor(x / y) * y);
  if (op == "**") return Value::Float(std::pow(x, y));
  return unsupported();
}

}  // namespace flotilla::jinja
