#include "serve/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <set>

#include <nlohmann/json.hpp>

#include "serve/errors.h"
#include "serve/server_state.h"

namespace flotilla::serve {
namespace {

using nlohmann::json;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Compares in time independent of where the keys differ (the length may show; the content does not).
bool SameKey(const std::string& given, const std::string& key) {
  if (key.empty() || given.size() != key.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < key.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i]);
  return diff == 0;
}

bool Authorized(const Server::State& s, const httplib::Request& req) {
  if (s.options.api_keys.empty()) return true;
  const std::string h = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (h.compare(0, kBearer.size(), kBearer) != 0) return false;
  const std::string key = h.substr(kBearer.size());
  bool ok = false;
  for (const std::string& k : s.options.api_keys) ok |= SameKey(key, k);
  return ok;
}

std::string EndpointOf(const std::string& path) {
  if (path == "/v1/chat/completions") return "chat.completions";
  if (path == "/v1/completions") return "completions";
  if (path == "/v1/models") return "models";
  if (path == "/v1/classify") return "classify";
  return "other";
}

void RegisterInfoRoutes(Server::State& s) {
  s.http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  s.http.Get("/v1/models", [&s](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    auto add = [&](const std::string& id, const char* kind) {
      data.push_back({{"id", id},
                      {"object", "model"},
                      {"created", s.started_unix},
                      {"owned_by", "flotilla"},
                      {"flotilla", {{"kind", kind}}}});
    };
    const route::FleetConfig& fleet = s.fleet->config();
    for (const route::SpecialistConfig& sp : fleet.specialists) {
      add(sp.name, sp.kind == route::SpecialistKind::kClassifier ? "classifier" : "generative");
    }
    if (fleet.router) {
      add(fleet.router->name, "router");
      add("auto", "auto");
    }
    res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
  });
  s.http.Get("/metrics", [&s](const httplib::Request&, httplib::Response& res) {
    std::map<std::string, int32_t> depths;
    for (const ServedModel& m : s.models) depths[m.name] = m.scheduler->queue_depth();
    res.set_content(s.metrics.Render(depths), "text/plain; version=0.0.4");
  });
}

// Authentication before routing; OpenAI-shaped bodies for httplib's own errors (404, 413, ...).
void RegisterGuards(Server::State& s) {
  s.http.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/health" || Authorized(s, req)) return httplib::Server::HandlerResponse::Unhandled;
    Exchange ex(EndpointOf(req.path));
    SetError(res, Status(StatusCode::kPermissionDenied, "a valid API key is required (Authorization: Bearer KEY)"),
             ex);
    res.set_header("WWW-Authenticate", "Bearer");
    s.metrics.RecordRequest(ex.record.endpoint, "", res.status, ex.Seconds(), 0, 0);
    return httplib::Server::HandlerResponse::Handled;
  });
  s.http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // an endpoint already wrote an error body
    std::string message = "no route for " + req.method + " " + req.path;
    std::string type = "invalid_request_error";
    if (res.status == 413) message = "the request body is too large";
    if (res.status == 405) message = "method not allowed";
    if (res.status >= 500) type = "server_error";
    json j = {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}};
    res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  });
  s.http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content(ErrorJson(InternalError("internal error")), "application/json");
  });
}

}  // namespace

ServedModel* Server::State::FindModel(const std::string& name) {
  for (ServedModel& m : models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

Exchange::Exchange(std::string endpoint) {
  record.created_unix_ms = NowUnixMs();
  record.endpoint = std::move(endpoint);
}

double Exchange::Seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Status Finish(Server::State& s, Exchange& ex) {
  const double seconds = ex.Seconds();
  ex.record.latency_ms = seconds * 1e3;
  s.metrics.RecordRequest(ex.record.endpoint, ex.record.model, ex.record.http_status, seconds,
                          ex.record.prompt_tokens, ex.record.completion_tokens);
  if (ex.routed && ex.record.http_status == 200) {
    s.metrics.RecordRoute(ex.record.route, ex.record.specialist, ex.record.cost_usd, ex.record.savings_usd);
  }
  if (!s.log) return Status::Ok();
  StatusOr<int64_t> id = s.log->Append(ex.record);
  if (!id.ok()) {
    std::fprintf(stderr, "flotilla serve: %s\n", id.status().message().c_str());
    return id.status();
  }
  return Status::Ok();
}

void SetError(httplib::Response& res, const Status& status, Exchange& ex) {
  res.status = HttpErrorFor(status).http_status;
  res.set_content(ErrorJson(status), "application/json");
  ex.record.http_status = res.status;
  ex.record.response_json = res.body;
  if (status.code() == StatusCode::kResourceExhausted) res.set_header("Retry-After", "1");
}

ConnectionWatch::ConnectionWatch(const httplib::Request& req) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    struct stat st {};
    if (fd <= 2 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage local {}, peer {};
    socklen_t ll = sizeof(local), pl = sizeof(peer);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;
    auto port = [](const sockaddr_storage& a) {
      if (a.ss_family == AF_INET) return static_cast<int>(ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port));
      if (a.ss_family == AF_INET6) return static_cast<int>(ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port));
      return -1;
    };
    if (port(local) == req.local_port && port(peer) == req.remote_port) {
      fd_ = fd;
      break;
    }
  }
  closedir(dir);
}

bool ConnectionWatch::PeerClosed() const {
  if (fd_ < 0) return false;
  char c;
  ssize_t n = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // orderly shutdown by the peer
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

Server::Server(std::unique_ptr<State> state) : state_(std::move(state)) {}

Server::~Server() { Stop(); }

StatusOr<std::unique_ptr<Server>> Server::Create(ServerOptions options, std::vector<ServedModel> models,
                                                 std::unique_ptr<RequestLog> log,
                                                 std::unique_ptr<route::Fleet> fleet) {
  if (models.empty() && !fleet) return InvalidArgumentError("the server needs at least one model");
  std::set<std::string> names;
  int32_t queued = 0;
  for (const ServedModel& m : models) {
    if (!names.insert(m.name).second) return InvalidArgumentError("two models are named '" + m.name + "'");
    queued += m.max_queue + 1;
  }
  if (!fleet) {  // one generative specialist per model, named as the model
    route::FleetConfig config;
    config.file = "(command line)";
    for (const ServedModel& m : models) {
      route::SpecialistConfig sp;
      sp.name = m.name;
      config.specialists.push_back(sp);
    }
    ASSIGN_OR_RETURN(fleet, route::Fleet::Load(std::move(config)));
  }
  for (const route::SpecialistConfig& sp : fleet->config().specialists) {
    if (sp.kind == route::SpecialistKind::kGenerative && !names.count(sp.name)) {
      return InvalidArgumentError("the generative specialist '" + sp.name + "' has no loaded model");
    }
  }
  auto state = std::make_unique<State>();
  state->fleet = std::move(fleet);
  state->options = std::move(options);
  state->models = std::move(models);
  state->log = std::move(log);
  state->started_unix = std::time(nullptr);
  State& s = *state;
  // Every queued request holds an HTTP thread while it waits; a few more answer 429s, /health, /metrics.
  const size_t threads = s.options.http_threads > 0 ? static_cast<size_t>(s.options.http_threads)
                                                    : static_cast<size_t>(std::max(16, queued + 8));
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.http.set_payload_max_length(s.options.max_body_bytes);
  s.http.set_read_timeout(s.options.timeout_seconds, 0);
  s.http.set_write_timeout(s.options.timeout_seconds, 0);
  RegisterGuards(s);
  RegisterInfoRoutes(s);
  RegisterCompletionRoutes(s);
  RegisterClassifyRoutes(s);
  RegisterEmbeddingRoutes(s);
  return std::unique_ptr<Server>(new Server(std::move(state)));
}

StatusOr<int> Server::Bind() {
  State& s = *state_;
  int port = s.options.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(s.options.host);
    if (port < 0) return UnavailableError("cannot bind " + s.options.host);
  } else if (!s.http.bind_to_port(s.options.host, port)) {
    return UnavailableError("cannot bind " + s.options.host + ":" + std::to_string(port) + " (in use?)");
  }
  return port;
}

Status Server::Serve() {
  if (!state_->http.listen_after_bind() && !state_->stopped) return UnavailableError("the HTTP server failed");
  return Status::Ok();
}

void Server::Stop() {
  if (state_->stopped.exchange(true)) return;
  for (ServedModel& m : state_->models) m.scheduler->Shutdown();
  state_->http.stop();
}

}  // namespace flotilla::serve
