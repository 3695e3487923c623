// Internal to src/serve: the state the endpoint files share, and their registration functions.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <string>

#include "serve/metrics.h"
#include "serve/server.h"

namespace flotilla::serve {

struct Server::State {
  ServerOptions options;
  std::vector<ServedModel> models;
  std::unique_ptr<RequestLog> log;
  std::unique_ptr<route::Fleet> fleet;  // never null after Create
  Metrics metrics;
  httplib::Server http;
  std::atomic<bool> stopped{false};
  int64_t started_unix = 0;

  // The served model called `name`, or nullptr.
  ServedModel* FindModel(const std::string& name);
};

// A request in flight: what the log and the metrics need when it ends.
struct Exchange {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  RequestRecord record;
  bool routed = false;  // the router decided: Finish records route, cost and savings metrics

  explicit Exchange(std::string endpoint);
  double Seconds() const;
};

// Writes the exchange to the request log (durably) and the metrics. Call before the response's
// last byte is sent. A failed log write is reported and returned.
Status Finish(Server::State& s, Exchange& ex);

// Sets an OpenAI error response (and records it in `ex`).
void SetError(httplib::Response& res, const Status& status, Exchange& ex);

// Endpoint groups (completions.cc).
void RegisterCompletionRoutes(Server::State& s);
void RegisterClassifyRoutes(Server::State& s);  // classify_endpoint.cc
void RegisterEmbeddingRoutes(Server::State& s);  // embeddings.cc

// True when the peer of the request's connection has closed it (Linux; false when unknown).
class ConnectionWatch {
 public:
  explicit ConnectionWatch(const httplib::Request& req);
  bool PeerClosed() const;

 private:
  int fd_ = -1;
};

}  // namespace flotilla::serve
