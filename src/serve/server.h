// The HTTP server: OpenAI-compatible endpoints over the models it was given.
//
//   POST /v1/chat/completions, POST /v1/completions  (JSON or SSE streaming)
//   POST /v1/classify (classifier specialists and the router)
//   GET  /v1/models, GET /health, GET /metrics (Prometheus text)
//
// Requests name a specialist by its name, or "auto"; the fleet's Router decides who answers (a local
// specialist, or the upstream model when the specialist is unsure) and every answer says so in a
// top-level "flotilla" object and the X-Flotilla-Route header. A name is only ever a key into the
// fleet, never a path. Every /v1 request is written to the request log (when there is one) before its response
// is sent. Errors use the OpenAI error JSON with the HTTP code from errors.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "flotilla/status.h"
#include "model/model.h"
#include "serve/scheduler.h"
#include "route/fleet.h"
#include "store/request_log.h"

namespace flotilla::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";       // loopback unless told otherwise
  int port = 8080;                      // 0: any free port (Bind returns it)
  std::vector<std::string> api_keys;    // non-empty: every endpoint but /health needs "Bearer <key>"
  size_t max_body_bytes = 1 << 20;      // larger bodies get 413
  int32_t max_tokens_cap = 4096;        // a request asking for more gets 400
  int timeout_seconds = 600;            // socket read/write timeout and the limit on one request
  int http_threads = 0;                 // 0: enough for every queued request plus some
};

// A model the server answers for.
struct ServedModel {
  std::string name;                     // what requests put in "model"
  std::unique_ptr<Model> model;
  std::unique_ptr<ThreadPool> pool;     // used by the scheduler's contexts
  std::unique_ptr<Scheduler> scheduler;
  int32_t max_queue = 16;               // for sizing the HTTP thread pool
};

class Server {
 public:
  // INVALID_ARGUMENT without models or with two models of one name. `log` may be null. `fleet` routes
  // requests (route/router.h): every generative specialist of its config must be among `models`
  // (same name); without a fleet, one is made that names each model as a generative specialist.
  static StatusOr<std::unique_ptr<Server>> Create(ServerOptions options, std::vector<ServedModel> models,
                                                  std::unique_ptr<RequestLog> log,
                                                  std::unique_ptr<route::Fleet> fleet = nullptr);
  ~Server();

  // Binds host:port; returns the port (useful with port 0). UNAVAILABLE when the address is taken.
  StatusOr<int> Bind();
  // Serves on the bound socket until Stop() (from another thread or a signal-watching thread).
  Status Serve();
  // Stops accepting, cancels running generations and ends queued ones. Idempotent.
  void Stop();

  struct State;  // shared by the endpoint files (server_state.h)

 private:
  explicit Server(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace flotilla::serve
