// POST /v1/classify: {"model": name | "auto" (optional), "input": string | [string, ...]} ->
// {"object": "list", "model": name, "data": [{"index", "label", "confidence", "abstained"}], "usage"}.
// "auto" or no model: the fleet's router classifier. Confidences are calibrated probabilities;
// "abstained" is the classifier's own abstain policy.
#include <nlohmann/json.hpp>

#include "serve/errors.h"
#include "serve/server_state.h"

namespace flotilla::serve {
namespace {

using nlohmann::json;

constexpr size_t kMaxInputs = 2048;

struct ClassifyRequest {
  std::string model;  // "" or "auto": the router
  std::vector<std::string> inputs;
};

StatusOr<ClassifyRequest> ParseClassify(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgumentError("the request body is not valid JSON");
  if (!j.is_object()) return InvalidArgumentError("the request body must be a JSON object");
  ClassifyRequest r;
  if (auto m = j.find("model"); m != j.end() && !m->is_null()) {
    if (!m->is_string() || m->get<std::string>().empty()) return ParamError("model", "'model' must be a non-empty string");
    r.model = m->get<std::string>();
  }
  auto in = j.find("input");
  if (in == j.end() || in->is_null()) return ParamError("input", "'input' is required");
  if (in->is_string()) {
    r.inputs.push_back(in->get<std::string>());
  } else if (in->is_array() && !in->empty() && in->size() <= kMaxInputs) {
    for (const json& x : *in) {
      if (!x.is_string()) return ParamError("input", "'input' must be a string or an array of strings");
      r.inputs.push_back(x.get<std::string>());
    }
  } else {
    return ParamError("input", "'input' must be a string or an array of 1 to 2048 strings");
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "model" && it.key() != "input" && it.key() != "user") {
      return ParamError(it.key(), "unknown parameter '" + it.key() + "'");
    }
  }
  return r;
}

// The classifier a request names; errors as the OpenAI API gives them (400, 404).
StatusOr<const classify::Classifier*> Pick(const Server::State& s, const std::string& model) {
  const route::Router& router = s.fleet->router();
  if (model.empty() || model == "auto") {
    if (!router.router_classifier()) {
      return ParamError("model", "this fleet has no router; name a classifier specialist in 'model'");
    }
    return router.router_classifier();
  }
  if (const classify::Classifier* c = router.FindClassifier(model)) return c;
  if (s.fleet->config().Find(model)) {
    return ParamError("model", "'" + model + "' is a generative model; /v1/classify needs a classifier");
  }
  std::string names;
  for (const route::SpecialistConfig& sp : s.fleet->config().specialists) {
    if (sp.kind == route::SpecialistKind::kClassifier) names += (names.empty() ? "" : ", ") + sp.name;
  }
  if (s.fleet->config().router) names += (names.empty() ? "" : ", ") + s.fleet->config().router->name;
  return NotFoundError("the classifier '" + model + "' does not exist; this server has: " +
                       (names.empty() ? "none" : names));
}

void HandleClassify(Server::State& s, const httplib::Request& req, httplib::Response& res) {
  Exchange ex("classify");
  ex.record.request_json = req.body;
  StatusOr<ClassifyRequest> r = ParseClassify(req.body);
  if (r.ok()) ex.record.model = r->model;
  StatusOr<const classify::Classifier*> c = r.ok() ? Pick(s, r->model) : StatusOr<const classify::Classifier*>(r.status());
  if (!c.ok()) {
    SetError(res, c.status(), ex);
    (void)Finish(s, ex);
    return;
  }
  const std::string name = r->model.empty() || r->model == "auto" ? s.fleet->config().router->name : r->model;
  json data = json::array();
  int64_t tokens = 0;
  for (size_t i = 0; i < r->inputs.size(); ++i) {
    classify::Prediction p = (*c)->Predict(r->inputs[i]);
    data.push_back({{"index", i},
                    {"label", (*c)->labels()[static_cast<size_t>(p.label)]},
                    {"confidence", p.confidence},
                    {"abstained", p.abstain}});
    tokens += route::EstimateTokens(r->inputs[i]);
    if (r->inputs.size() == 1) ex.record.confidence = p.confidence;
  }
  const json body = {{"object", "list"},
                     {"model", name},
                     {"data", data},
                     {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
  ex.record.answered_by = name;
  ex.record.specialist = name;
  ex.record.route = "local";
  ex.record.prompt_tokens = static_cast<int32_t>(tokens);
  ex.record.cost_usd = static_cast<double>(tokens) * s.fleet->config().local_price_per_million / 1e6;
  ex.record.response_json = body.dump(-1, ' ', false, json::error_handler_t::replace);
  if (Status logged = Finish(s, ex); !logged.ok()) {
    SetError(res, FailedPreconditionError("the request log is unavailable: " + logged.message()), ex);
    return;
  }
  res.set_header("X-Flotilla-Route", "local");
  res.set_header("X-Flotilla-Answered-By", name);
  res.set_content(ex.record.response_json, "application/json");
}

}  // namespace

void RegisterClassifyRoutes(Server::State& s) {
  s.http.Post("/v1/classify", [&s](const httplib::Request& req, httplib::Response& res) { HandleClassify(s, req, res); });
}

}  // namespace flotilla::serve
