// flotilla serve -m M.gguf | FLEET.toml: an OpenAI-compatible HTTP server for one model or a fleet of
// specialists (src/serve/server.h, src/cli/serve_fleet.h).
// Flags follow llama-server's names (--host, --port, --api-key, -c, -t, -a/--alias, --timeout).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "cli/serve_fleet.h"
#include "serve/server.h"

namespace flotilla::cli {
namespace {

struct ServeOptions {
  std::string fleet;  // FLEET.toml (positional), or -m for one model
  ModelFlags model;
  std::string alias;
  serve::ServerOptions server;
  int32_t queue = 16;
  int32_t parallel = 4;  // sequences decoded together (continuous batching); 1: one job at a time
  std::string db = "flotilla-requests.sqlite";
  bool no_log = false;
};

// Blocks SIGINT/SIGTERM in every thread started after this (they are taken with sigwait) and
// ignores SIGPIPE (a client that hangs up must not end the server).
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

Status Run(ServeOptions o) {
  if (const char* env = std::getenv("FLOTILLA_API_KEY"); env && *env) o.server.api_keys.push_back(env);
  if (o.queue < 0) return InvalidArgumentError("--queue must not be negative");
  if (o.parallel < 1) return InvalidArgumentError("--parallel must be at least 1");
  if (o.server.max_tokens_cap < 1) return InvalidArgumentError("--max-tokens must be at least 1");
  if (o.server.timeout_seconds < 1) return InvalidArgumentError("--timeout must be at least 1 second");
  if (o.fleet.empty() == o.model.model.empty()) {
    return InvalidArgumentError("give either -m M.gguf or a fleet file (flotilla serve FLEET.toml)");
  }
  sigset_t stop_signals = BlockStopSignals();
  if (!o.fleet.empty()) return RunFleet(o.fleet, o.server, o.no_log, stop_signals);
  ASSIGN_OR_RETURN(LoadedModel m, LoadModel(o.model));
  serve::ServedModel served;
  served.name = o.alias.empty() ? std::filesystem::path(o.model.model).stem().string() : o.alias;
  served.max_queue = o.queue + o.parallel - 1;  // requests held by the scheduler, besides one running
  if (o.parallel == 1) {
    served.scheduler = serve::MakeSerialScheduler(*m.model, std::move(m.context), o.queue);
  } else {
    ASSIGN_OR_RETURN(served.scheduler, serve::MakeBatchingScheduler(*m.model, *m.pool, m.context->options(),
                                                                    o.parallel, o.queue));
    m.context.reset();  // the slots have contexts of their own
  }
  served.model = std::move(m.model);
  served.pool = std::move(m.pool);
  std::unique_ptr<RequestLog> log;
  if (!o.no_log) {
    ASSIGN_OR_RETURN(log, RequestLog::Open(o.db));
  }
  std::vector<serve::ServedModel> models;
  models.push_back(std::move(served));
  const std::string name = models[0].name;
  ASSIGN_OR_RETURN(std::unique_ptr<serve::Server> server,
                   serve::Server::Create(o.server, std::move(models), std::move(log)));
  ASSIGN_OR_RETURN(int port, server->Bind());
  const std::string what = "'" + name + "' (request log: " + (o.no_log ? std::string("off") : o.db) + ")";
  return ServeUntilSignal(*server, o.server, port, what, name, stop_signals);
}

}  // namespace

void RegisterServe(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server for a model or a fleet of specialists");
  cmd->add_option("fleet", o->fleet,
                  "Fleet file (TOML): specialists, router, routes, thresholds, upstream, request log "
                  "(see examples/fleet/fleet.toml); instead of -m");
  AddModelFlags(*cmd, o->model);
  cmd->get_option("--model")->required(false);
  cmd->add_option("-a,--alias", o->alias, "Model name in the API (default: the file name without .gguf)");
  cmd->add_option("--host", o->server.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->server.port, "Port to listen on (0: any free port)")->capture_default_str();
  cmd->add_option("--api-key", o->server.api_keys,
                  "API key clients must send as 'Authorization: Bearer KEY' (repeatable; also $FLOTILLA_API_KEY)");
  cmd->add_option("--queue", o->queue, "Requests that may wait for the model; more get HTTP 429")
      ->capture_default_str();
  cmd->add_option("--parallel", o->parallel,
                  "Requests decoded together, one forward pass for all (continuous batching; each has a KV "
                  "cache of -c tokens); 1: one at a time")
      ->capture_default_str();
  cmd->add_option("--db", o->db, "Request log (SQLite) with -m; a fleet file names its own")->capture_default_str();
  cmd->add_flag("--no-log", o->no_log, "Do not keep a request log");
  cmd->add_option("--max-tokens", o->server.max_tokens_cap, "Largest max_tokens a request may ask for")
      ->capture_default_str();
  cmd->add_option("--body-limit", o->server.max_body_bytes, "Largest request body in bytes")->capture_default_str();
  cmd->add_option("--timeout", o->server.timeout_seconds, "Socket timeout and request time limit in seconds")
      ->capture_default_str();
  cmd->add_option("--threads-http", o->server.http_threads, "HTTP threads (0: queue size + 8, at least 16)")
      ->capture_default_str();
  cmd->callback([o] { Finish(Run(*o)); });
}

}  // namespace flotilla::cli
