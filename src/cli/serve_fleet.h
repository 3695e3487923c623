// flotilla serve FLEET.toml: loads a fleet file's specialists and serves them (src/serve/server.h).
#pragma once

#include <signal.h>

#include <string>

#include "flotilla/status.h"
#include "serve/server.h"

namespace flotilla::cli {

// Loads `fleet_file` (route/fleet_config.h), every generative specialist with its scheduler and the
// request log it names (none with `no_log`), then serves until SIGINT/SIGTERM (already blocked in
// `stop_signals`). `server` carries --host, --port, --api-key and the limits.
Status RunFleet(const std::string& fleet_file, const serve::ServerOptions& server, bool no_log,
                sigset_t stop_signals);

// Serves on the bound `server` until a signal in `stop_signals`; prints the URL and a curl line
// naming `example_model`.
Status ServeUntilSignal(serve::Server& server, const serve::ServerOptions& options, int port,
                        const std::string& what, const std::string& example_model, sigset_t stop_signals);

}  // namespace flotilla::cli
