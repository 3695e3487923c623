#include "route/fleet_config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace flotilla::route {
namespace {

namespace fs = std::filesystem;

// Reads one fleet file; every error carries "file:line:column: ".
class Reader {
 public:
  Reader(const std::string& file, const EnvLookup& env) : file_(file), env_(env) {
    base_dir_ = fs::path(file).parent_path();
  }

  Status Error(const toml::node* at, const std::string& msg) const {
    if (at && at->source().begin) {
      return InvalidArgumentError(file_ + ":" + std::to_string(at->source().begin.line) + ":" +
                                  std::to_string(at->source().begin.column) + ": " + msg);
    }
    return InvalidArgumentError(file_ + ": " + msg);
  }

  // Every key of `t` must be in `allowed`.
  Status CheckKeys(const toml::table& t, std::string_view where, std::initializer_list<std::string_view> allowed) {
    for (const auto& [key, node] : t) {
      bool ok = false;
      for (std::string_view a : allowed) ok |= key.str() == a;
      if (!ok) {
        std::string list;
        for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        const toml::source_position at = key.source().begin ? key.source().begin : node.source().begin;
        return InvalidArgumentError(file_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                                    ": unknown key '" + std::string(key.str()) + "' in " + std::string(where) +
                                    " (known: " + list + ")");
      }
    }
    return Status::Ok();
  }

  Status String(const toml::table& t, std::string_view key, std::string_view where, std::string* out,
                bool required) {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) return Error(&t, std::string(where) + " needs '" + std::string(key) + "'");
      return Status::Ok();
    }
    if (!n->is_string()) return Error(n, std::string(where) + "." + std::string(key) + " must be a string");
    *out = n->as_string()->get();
    return Status::Ok();
  }

  Status Number(const toml::table& t, std::string_view key, std::string_view where, double lo, double hi,
                double* out) {
    const toml::node* n = t.get(key);
    if (!n) return Status::Ok();
    if (!n->is_number()) return Error(n, std::string(where) + "." + std::string(key) + " must be a number");
    double v = n->is_integer() ? static_cast<double>(n->as_integer()->get()) : n->as_floating_point()->get();
    if (!(v >= lo && v <= hi)) {
      std::ostringstream range;
      range << "[" << lo << ", " << hi << "]";
      return Error(n, std::string(where) + "." + std::string(key) + " must be in " + range.str());
    }
    *out = v;
    return Status::Ok();
  }

  Status Int(const toml::table& t, std::string_view key, std::string_view where, int64_t lo, int64_t hi,
             int32_t* out) {
    const toml::node* n = t.get(key);
    if (!n) return Status::Ok();
    if (!n->is_integer()) return Error(n, std::string(where) + "." + std::string(key) + " must be an integer");
    int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) {
      return Error(n, std::string(where) + "." + std::string(key) + " must be in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
    }
    *out = static_cast<int32_t>(v);
    return Status::Ok();
  }

  // A model path: resolved against the fleet file's directory; the file must exist.
  Status ModelPath(const toml::table& t, std::string_view where, std::string* out) {
    std::string given;
    RETURN_IF_ERROR(String(t, "model", where, &given, /*required=*/true));
    if (given.empty()) return Error(t.get("model"), std::string(where) + ".model is empty");
    fs::path p(given);
    if (p.is_relative()) p = base_dir_ / p;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      return Error(t.get("model"), "no model file " + p.string() + " (" + std::string(where) + ".model)");
    }
    *out = p.string();
    return Status::Ok();
  }

  Status Specialist(const toml::table& t, SpecialistConfig* s) {
    constexpr std::string_view kWhere = "[[specialist]]";
    RETURN_IF_ERROR(CheckKeys(t, kWhere, {"name", "kind", "model", "threshold", "context", "threads", "parallel",
                                          "queue"}));
    RETURN_IF_ERROR(String(t, "name", kWhere, &s->name, true));
    if (!IsValidModelName(s->name)) {
      return Error(t.get("name"), "specialist name '" + s->name +
                                      "' must be 1-64 of A-Z a-z 0-9 . _ - and not 'auto'");
    }
    const std::string where = "specialist '" + s->name + "'";
    std::string kind = "generative";
    RETURN_IF_ERROR(String(t, "kind", where, &kind, false));
    if (kind == "generative") {
      s->kind = SpecialistKind::kGenerative;
    } else if (kind == "classifier") {
      s->kind = SpecialistKind::kClassifier;
    } else {
      return Error(t.get("kind"), where + ".kind must be \"generative\" or \"classifier\", not \"" + kind + "\"");
    }
    RETURN_IF_ERROR(ModelPath(t, where, &s->path));
    if (t.contains("threshold")) {
      double th = 0;
      RETURN_IF_ERROR(Number(t, "threshold", where, 0, 1, &th));
      s->threshold = static_cast<float>(th);
    }
    if (s->kind == SpecialistKind::kClassifier) {
      for (const char* k : {"context", "threads", "parallel", "queue"}) {
        if (t.contains(k)) return Error(t.get(k), where + ": '" + k + "' applies to generative specialists only");
      }
    }
    RETURN_IF_ERROR(Int(t, "context", where, 0, 1 << 20, &s->context));
    RETURN_IF_ERROR(Int(t, "threads", where, 0, 1024, &s->threads));
    RETURN_IF_ERROR(Int(t, "parallel", where, 1, 256, &s->parallel));
    RETURN_IF_ERROR(Int(t, "queue", where, 0, 100000, &s->queue));
    return Status::Ok();
  }

  Status Router(const toml::table& t, RouterConfig* r) {
    RETURN_IF_ERROR(CheckKeys(t, "[router]", {"name", "model", "default", "routes"}));
    RETURN_IF_ERROR(String(t, "name", "[router]", &r->name, false));
    if (!IsValidModelName(r->name)) {
      return Error(t.get("name"), "router name '" + r->name + "' must be 1-64 of A-Z a-z 0-9 . _ - and not 'auto'");
    }
    RETURN_IF_ERROR(ModelPath(t, "[router]", &r->path));
    RETURN_IF_ERROR(String(t, "default", "[router]", &r->default_specialist, false));
    const toml::node* routes = t.get("routes");
    if (routes && !routes->is_table()) return Error(routes, "[router].routes must be a table of label = \"specialist\"");
    if (routes) {
      for (const auto& [label, node] : *routes->as_table()) {
        if (!node.is_string()) return Error(&node, "route '" + std::string(label.str()) + "' must name a specialist");
        r->routes[std::string(label.str())] = node.as_string()->get();
      }
    }
    if (r->routes.empty() && r->default_specialist.empty()) {
      return Error(&t, "[router] needs routes (label = \"specialist\") or a default");
    }
    return Status::Ok();
  }

  Status Upstream(const toml::table& t, UpstreamSettings* u) {
    constexpr std::string_view kWhere = "[upstream]";
    RETURN_IF_ERROR(CheckKeys(t, kWhere, {"base_url", "model", "api_key_env", "input_price_per_million",
                                          "output_price_per_million", "timeout_seconds", "on_failure"}));
    RETURN_IF_ERROR(String(t, "base_url", kWhere, &u->client.base_url, true));
    const std::string& url = u->client.base_url;
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return Error(t.get("base_url"), "[upstream].base_url must start with http:// or https://");
    }
    RETURN_IF_ERROR(String(t, "model", kWhere, &u->client.model, true));
    RETURN_IF_ERROR(String(t, "api_key_env", kWhere, &u->api_key_env, false));
    if (!u->api_key_env.empty()) {
      std::optional<std::string> key = env_(u->api_key_env);
      if (!key || key->empty()) {
        return Error(t.get("api_key_env"), "[upstream].api_key_env names " + u->api_key_env + ", which is not set");
      }
      u->client.api_key = *key;
    }
    RETURN_IF_ERROR(Number(t, "input_price_per_million", kWhere, 0, 1e6, &u->input_price_per_million));
    RETURN_IF_ERROR(Number(t, "output_price_per_million", kWhere, 0, 1e6, &u->output_price_per_million));
    RETURN_IF_ERROR(Number(t, "timeout_seconds", kWhere, 0.001, 86400, &u->client.timeout_seconds));
    std::string on_failure = "fallback";
    RETURN_IF_ERROR(String(t, "on_failure", kWhere, &on_failure, false));
    if (on_failure == "fallback") {
      u->on_failure = OnFailure::kFallback;
    } else if (on_failure == "error") {
      u->on_failure = OnFailure::kError;
    } else {
      return Error(t.get("on_failure"), "[upstream].on_failure must be \"fallback\" or \"error\"");
    }
    return Status::Ok();
  }

  // Names unique across specialists and the router; routes point at specialists.
  Status CrossCheck(const toml::table& root, FleetConfig& c) {
    std::set<std::string> names;
    const toml::array* specs = root.get("specialist") ? root.get("specialist")->as_array() : nullptr;
    for (size_t i = 0; i < c.specialists.size(); ++i) {
      if (!names.insert(c.specialists[i].name).second) {
        const toml::node* at = specs ? specs->get(i)->as_table()->get("name") : nullptr;
        return Error(at, "two specialists are named '" + c.specialists[i].name + "'");
      }
    }
    if (!c.router) return Status::Ok();
    const toml::table* rt = root.get("router")->as_table();
    if (names.count(c.router->name)) {
      return Error(rt->get("name") ? rt->get("name") : rt,
                   "the router is named '" + c.router->name + "', like a specialist (set [router].name)");
    }
    auto known = [&](const std::string& n) { return names.count(n) > 0; };
    if (!c.router->default_specialist.empty() && !known(c.router->default_specialist)) {
      return Error(rt->get("default"), "[router].default names an unknown specialist '" +
                                           c.router->default_specialist + "'");
    }
    for (const auto& [label, target] : c.router->routes) {
      if (!known(target)) {
        const toml::node* at = rt->get("routes")->as_table()->get(label);
        return Error(at, "route '" + label + "' goes to an unknown specialist '" + target + "'");
      }
    }
    return Status::Ok();
  }

  StatusOr<FleetConfig> Read(const toml::table& root) {
    FleetConfig c;
    c.file = file_;
    RETURN_IF_ERROR(CheckKeys(root, "the fleet file", {"log", "local_price_per_million", "specialist", "router",
                                                        "upstream"}));
    std::string log = "requests.sqlite";
    RETURN_IF_ERROR(String(root, "log", "the fleet file", &log, false));
    if (log.empty()) return Error(root.get("log"), "log must name a file");
    c.log_path = fs::path(log).is_relative() ? (base_dir_ / log).string() : log;
    RETURN_IF_ERROR(Number(root, "local_price_per_million", "the fleet file", 0, 1e6, &c.local_price_per_million));
    const toml::node* specs = root.get("specialist");
    if (!specs || !specs->is_array_of_tables() || specs->as_array()->empty()) {
      return Error(specs, "the fleet needs at least one [[specialist]] table");
    }
    for (const toml::node& n : *specs->as_array()) {
      SpecialistConfig s;
      RETURN_IF_ERROR(Specialist(*n.as_table(), &s));
      c.specialists.push_back(std::move(s));
    }
    if (const toml::node* r = root.get("router")) {
      if (!r->is_table()) return Error(r, "router must be a table ([router])");
      c.router.emplace();
      RETURN_IF_ERROR(Router(*r->as_table(), &*c.router));
    }
    if (const toml::node* u = root.get("upstream")) {
      if (!u->is_table()) return Error(u, "upstream must be a table ([upstream])");
      c.upstream.emplace();
      RETURN_IF_ERROR(Upstream(*u->as_table(), &*c.upstream));
    }
    RETURN_IF_ERROR(CrossCheck(root, c));
    return c;
  }

 private:
  std::string file_;
  fs::path base_dir_;
  const EnvLookup& env_;
};

}  // namespace

const SpecialistConfig* FleetConfig::Find(std::string_view name) const {
  for (const SpecialistConfig& s : specialists) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

bool IsValidModelName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "auto") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return name != "." && name != "..";
}

StatusOr<FleetConfig> ParseFleetConfig(std::string_view text, const std::string& file, const EnvLookup& env) {
  Reader reader(file, env);
  try {
    toml::table root = toml::parse(text, file);
    return reader.Read(root);
  } catch (const toml::parse_error& e) {
    return InvalidArgumentError(file + ":" + std::to_string(e.source().begin.line) + ":" +
                                std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  } catch (const std::exception& e) {  // the library's allocation or conversion failures
    return InvalidArgumentError(file + ": " + e.what());
  }
}

StatusOr<FleetConfig> LoadFleetConfig(const std::string& path, const EnvLookup& env) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return NotFoundError("no fleet file " + path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read fleet file " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (bytes.str().size() > (1 << 20)) return InvalidArgumentError(path + ": a fleet file larger than 1 MiB");
  return ParseFleetConfig(bytes.str(), path, env);
}

}  // namespace flotilla::route
