// The fleet file: which specialists a `flotilla serve FLEET.toml` runs, how "auto" routes among them,
// when a request escalates to the upstream large model, and where the request log goes.
//
//   log = "requests.sqlite"            # request log (SQLite, WAL); default: requests.sqlite
//   local_price_per_million = 0.0      # USD per million tokens counted for local answers
//
//   [[specialist]]                     # one table per specialist; names are unique
//   name = "harbor"                    # [A-Za-z0-9._-]+, not "auto"; what requests put in "model"
//   kind = "generative"                # "generative" (a GGUF language model) or "classifier"
//   model = "models/harbor.gguf"       # path; relative paths are relative to the fleet file
//   threshold = 0.5                    # optional, in [0, 1]: escalate when confidence < threshold
//                                      # (1: always escalate; route/router.h says which confidence)
//   context = 512                      # generative only: KV cache tokens (0: the model's)
//   threads = 0                        # generative only: 0 = all cores
//   parallel = 2                       # generative only: sequences decoded together
//   queue = 16                         # generative only: requests that may wait
//
//   [router]                           # optional; needed for model "auto"
//   name = "router"                    # how /v1/classify and /v1/models name it
//   model = "models/router.gguf"       # a classifier whose labels are keys of `routes`
//   default = "harbor"                 # optional: the specialist for labels without a route
//   routes = { billing = "intent" }    # router label -> specialist name (also as [router.routes])
//
//   [upstream]                         # optional: the large model asked when a specialist is unsure
//   base_url = "https://api.example.com/v1"
//   model = "big-model"
//   api_key_env = "OPENAI_API_KEY"     # optional: the environment variable holding the key
//   input_price_per_million = 0.15     # USD per million prompt tokens
//   output_price_per_million = 0.60    # USD per million completion tokens
//   timeout_seconds = 60
//   on_failure = "fallback"            # or "error": answer 502 when the upstream fails
//
// Every error is one line naming the file, the line and column, and what is wrong: TOML syntax,
// unknown keys, wrong types, missing files, duplicate names, routes to unknown specialists.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"
#include "route/upstream.h"

namespace flotilla::route {

enum class SpecialistKind { kGenerative, kClassifier };

struct SpecialistConfig {
  std::string name;
  SpecialistKind kind = SpecialistKind::kGenerative;
  std::string path;                 // resolved: absolute, or relative to the working directory
  std::optional<float> threshold;   // escalate when the confidence (router.h) is below it
  int32_t context = 0;              // generative: n_ctx (0: the model's training context, capped)
  int32_t threads = 0;              // generative: 0 = hardware threads
  int32_t parallel = 1;             // generative: continuous-batching slots
  int32_t queue = 16;               // generative: waiting requests before 429
};

enum class OnFailure { kFallback, kError };

struct UpstreamSettings {
  UpstreamConfig client;            // api_key filled from api_key_env
  std::string api_key_env;
  double input_price_per_million = 0;   // USD
  double output_price_per_million = 0;  // USD
  OnFailure on_failure = OnFailure::kFallback;
};

struct RouterConfig {
  std::string name = "router";
  std::string path;                 // resolved like SpecialistConfig::path
  std::map<std::string, std::string> routes;  // router label -> specialist name
  std::string default_specialist;   // "" : a label without a route is an error at load time
};

struct FleetConfig {
  std::string file;                 // the fleet file, as given
  std::vector<SpecialistConfig> specialists;
  std::optional<RouterConfig> router;
  std::optional<UpstreamSettings> upstream;
  std::string log_path;             // resolved
  double local_price_per_million = 0;  // USD per local token (prompt and completion alike)

  // The specialist called `name`, or nullptr.
  const SpecialistConfig* Find(std::string_view name) const;
};

// Reads environment variables (tests pass their own).
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> ProcessEnv(const std::string& name);

// Parses fleet TOML `text`; `file` names it in errors and its directory anchors relative paths.
// Checks that model files exist (not that they load: that is the server's job).
StatusOr<FleetConfig> ParseFleetConfig(std::string_view text, const std::string& file,
                                       const EnvLookup& env = ProcessEnv);
// Reads and parses the file at `path`. NOT_FOUND when it does not exist.
StatusOr<FleetConfig> LoadFleetConfig(const std::string& path, const EnvLookup& env = ProcessEnv);

// True for a name a request may use for a specialist: 1-64 of [A-Za-z0-9._-], not "auto".
bool IsValidModelName(std::string_view name);

}  // namespace flotilla::route
