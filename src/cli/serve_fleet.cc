#include "cli/serve_fleet.h"

#include <pthread.h>

#include <cstdio>
#include <thread>

#include "cli/model_flags.h"
#include "route/fleet.h"
#include "store/request_log.h"

namespace flotilla::cli {
namespace {

// One generative specialist: its model, thread pool and scheduler.
StatusOr<serve::ServedModel> LoadSpecialist(const route::SpecialistConfig& sp) {
  ModelFlags flags;
  flags.model = sp.path;
  flags.n_ctx = sp.context;
  flags.n_threads = sp.threads;
  StatusOr<LoadedModel> m = LoadModel(flags);
  if (!m.ok()) return m.status().WithContext("specialist '" + sp.name + "'");
  serve::ServedModel served;
  served.name = sp.name;
  served.max_queue = sp.queue + sp.parallel - 1;  // requests held by the scheduler, besides one running
  if (sp.parallel == 1) {
    served.scheduler = serve::MakeSerialScheduler(*m->model, std::move(m->context), sp.queue);
  } else {
    StatusOr<std::unique_ptr<serve::Scheduler>> batching =
        serve::MakeBatchingScheduler(*m->model, *m->pool, m->context->options(), sp.parallel, sp.queue);
    if (!batching.ok()) return batching.status().WithContext("specialist '" + sp.name + "'");
    served.scheduler = std::move(*batching);
    m->context.reset();  // the slots have contexts of their own
  }
  served.model = std::move(m->model);
  served.pool = std::move(m->pool);
  return served;
}

}  // namespace

Status ServeUntilSignal(serve::Server& server, const serve::ServerOptions& options, int port,
                        const std::string& what, const std::string& example_model, sigset_t stop_signals) {
  const std::string url = "http://" + options.host + ":" + std::to_string(port);
  std::fprintf(stderr, "flotilla: serving %s on %s\n", what.c_str(), url.c_str());
  std::fprintf(stderr,
               "flotilla: try: curl %s/v1/chat/completions -H 'Content-Type: application/json' "
               "-d '{\"model\": \"%s\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'\n",
               url.c_str(), example_model.c_str());
  std::thread watcher([&server, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig != 0) server.Stop();
  });
  Status st = server.Serve();
  server.Stop();
  pthread_kill(watcher.native_handle(), SIGTERM);  // wake the watcher if Serve ended by itself
  watcher.join();
  std::fprintf(stderr, "flotilla: server stopped\n");
  return st;
}

Status RunFleet(const std::string& fleet_file, const serve::ServerOptions& server, bool no_log,
                sigset_t stop_signals) {
  ASSIGN_OR_RETURN(route::FleetConfig config, route::LoadFleetConfig(fleet_file));
  std::vector<serve::ServedModel> models;
  std::string names;
  for (const route::SpecialistConfig& sp : config.specialists) {
    names += (names.empty() ? "" : ", ") + sp.name;
    if (sp.kind != route::SpecialistKind::kGenerative) continue;
    ASSIGN_OR_RETURN(serve::ServedModel m, LoadSpecialist(sp));
    models.push_back(std::move(m));
  }
  std::unique_ptr<RequestLog> log;
  if (!no_log) {
    ASSIGN_OR_RETURN(log, RequestLog::Open(config.log_path));
  }
  std::string what = "fleet " + fleet_file + " (" + names;
  if (config.router) what += "; auto via " + config.router->name;
  if (config.upstream) what += "; upstream " + config.upstream->client.model + " at " + config.upstream->client.base_url;
  what += "; request log: " + (no_log ? std::string("off") : config.log_path) + ")";
  const std::string example = config.router ? "auto" : config.specialists[0].name;
  ASSIGN_OR_RETURN(std::unique_ptr<route::Fleet> fleet, route::Fleet::Load(std::move(config)));
  ASSIGN_OR_RETURN(std::unique_ptr<serve::Server> srv,
                   serve::Server::Create(server, std::move(models), std::move(log), std::move(fleet)));
  ASSIGN_OR_RETURN(int port, srv->Bind());
  return ServeUntilSignal(*srv, server, port, what, example, stop_signals);
}

}  // namespace flotilla::cli
