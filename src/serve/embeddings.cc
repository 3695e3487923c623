// POST /v1/embeddings: {"model", "input": string | [string] | [int] | [[int]], "encoding_format"}
// -> {"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}.
// The embedding of an input is its final hidden states (after the output norm) mean-pooled and
// L2-normalised, as llama.cpp's server computes with --pooling mean. "encoding_format": "base64"
// (the openai clients' default) sends the float32 vector's little-endian bytes in base64.
#include <cstring>
#include <future>

#include <nlohmann/json.hpp>

#include "serve/errors.h"
#include "serve/server_state.h"

namespace flotilla::serve {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr size_t kMaxInputs = 2048;  // OpenAI's limit per request

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> texts;               // either texts...
  std::vector<std::vector<int32_t>> token_ids;  // ...or token ids
  bool base64 = false;
};

StatusOr<std::vector<int32_t>> TokenIds(const json& arr) {
  std::vector<int32_t> ids;
  for (const json& v : arr) {
    if (!v.is_number_integer()) return ParamError("input", "'input' token arrays must hold integers");
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id > INT32_MAX) return ParamError("input", "token id " + std::to_string(id) + " is out of range");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

StatusOr<EmbeddingRequest> ParseEmbeddingRequest(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgumentError("the request body is not valid JSON");
  if (!j.is_object()) return InvalidArgumentError("the request body must be a JSON object");
  EmbeddingRequest r;
  auto model = j.find("model");
  if (model == j.end() || !model->is_string()) return ParamError("model", "'model' must be a string");
  r.model = model->get<std::string>();
  auto fmt = j.find("encoding_format");
  if (fmt != j.end() && !fmt->is_null()) {
    if (!fmt->is_string() || (*fmt != "float" && *fmt != "base64")) {
      return ParamError("encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
    }
    r.base64 = *fmt == "base64";
  }
  if (auto dims = j.find("dimensions"); dims != j.end() && !dims->is_null()) {
    return Status(StatusCode::kUnimplemented, "dimensions: 'dimensions' is not supported; embeddings have the model's width");
  }
  auto input = j.find("input");
  if (input == j.end() || input->is_null()) return ParamError("input", "'input' is required");
  const json& in = *input;
  if (in.is_string()) {
    r.texts.push_back(in.get<std::string>());
  } else if (in.is_array() && !in.empty()) {
    if (in.size() > kMaxInputs) return ParamError("input", "'input' holds at most 2048 items");
    if (in[0].is_string()) {
      for (const json& t : in) {
        if (!t.is_string()) return ParamError("input", "'input' must not mix strings with other values");
        r.texts.push_back(t.get<std::string>());
      }
    } else if (in[0].is_array()) {
      for (const json& t : in) {
        if (!t.is_array()) return ParamError("input", "'input' must be an array of token arrays");
        ASSIGN_OR_RETURN(std::vector<int32_t> ids, TokenIds(t));
        r.token_ids.push_back(std::move(ids));
      }
    } else {
      ASSIGN_OR_RETURN(std::vector<int32_t> ids, TokenIds(in));
      r.token_ids.push_back(std::move(ids));
    }
  } else {
    return ParamError("input", "'input' must be a string, an array of strings, or token ids (non-empty)");
  }
  return r;
}

std::string Base64(const void* data, size_t size) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (size_t i = 0; i < size; i += 3) {
    const uint32_t n = (uint32_t{p[i]} << 16) | (i + 1 < size ? uint32_t{p[i + 1]} << 8 : 0) |
                       (i + 2 < size ? uint32_t{p[i + 2]} : 0);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < size ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < size ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// Tokens of each input; texts get BOS as completions do. INVALID_ARGUMENT naming an empty input.
StatusOr<std::vector<std::vector<int32_t>>> Tokenize(const Tokenizer& tok, EmbeddingRequest& r) {
  std::vector<std::vector<int32_t>> inputs = std::move(r.token_ids);
  for (const std::string& t : r.texts) {
    if (t.empty()) return ParamError("input", "input " + std::to_string(inputs.size()) + " is an empty string");
    inputs.push_back(tok.Encode(t, /*add_special=*/true, /*parse_special=*/true));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty()) return ParamError("input", "input " + std::to_string(i) + " has no tokens");
  }
  return inputs;
}

// Runs the job, cancelling it when the client disconnects.
StatusOr<EmbeddingOutput> Embed(Scheduler& scheduler, EmbeddingJob job, const httplib::Request& req) {
  auto promise = std::make_shared<std::promise<StatusOr<EmbeddingOutput>>>();
  std::future<StatusOr<EmbeddingOutput>> done = promise->get_future();
  job.on_done = [promise](StatusOr<EmbeddingOutput> r) { promise->set_value(std::move(r)); };
  std::shared_ptr<std::atomic<bool>> cancel = job.cancel;
  RETURN_IF_ERROR(scheduler.SubmitEmbedding(std::move(job)));
  ConnectionWatch watch(req);
  while (done.wait_for(50ms) != std::future_status::ready) {
    if (!cancel->load() && watch.PeerClosed()) cancel->store(true);
  }
  return done.get();
}

json ResponseJson(const ServedModel& m, const EmbeddingRequest& r, const EmbeddingOutput& out) {
  json data = json::array();
  for (size_t i = 0; i < out.embeddings.size(); ++i) {
    const std::vector<float>& e = out.embeddings[i];
    json embedding = r.base64 ? json(Base64(e.data(), e.size() * sizeof(float))) : json(e);
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", m.name},
          {"usage", {{"prompt_tokens", out.n_prompt}, {"total_tokens", out.n_prompt}}}};
}

void HandleEmbeddings(Server::State& s, const httplib::Request& req, httplib::Response& res) {
  Exchange ex("embeddings");
  ex.record.request_json = req.body;
  ex.record.route = "direct";
  StatusOr<EmbeddingRequest> r = ParseEmbeddingRequest(req.body);
  if (!r.ok()) return SetError(res, r.status(), ex), (void)Finish(s, ex);
  ex.record.model = r->model;
  ServedModel* m = s.FindModel(r->model);
  if (!m) {
    std::string names;
    for (const ServedModel& sm : s.models) names += (names.empty() ? "" : ", ") + sm.name;
    SetError(res, Status(StatusCode::kNotFound, "the model '" + r->model + "' does not exist; this server has: " + names),
             ex);
    return (void)Finish(s, ex);
  }
  EmbeddingJob job;
  StatusOr<std::vector<std::vector<int32_t>>> inputs = Tokenize(m->model->tokenizer(), *r);
  if (!inputs.ok()) return SetError(res, inputs.status(), ex), (void)Finish(s, ex);
  job.inputs = std::move(*inputs);
  for (const auto& in : job.inputs) ex.record.prompt_tokens += static_cast<int32_t>(in.size());
  job.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(s.options.timeout_seconds);
  StatusOr<EmbeddingOutput> out = Embed(*m->scheduler, std::move(job), req);
  if (!out.ok()) {
    if (out.status().code() == StatusCode::kResourceExhausted) s.metrics.RecordQueueRejection(m->name);
    return SetError(res, out.status(), ex), (void)Finish(s, ex);
  }
  const std::string body = ResponseJson(*m, *r, *out).dump(-1, ' ', false, json::error_handler_t::replace);
  ex.record.answered_by = m->name;
  ex.record.http_status = 200;
  ex.record.response_json = body;
  if (Status logged = Finish(s, ex); !logged.ok()) {  // not durable: do not acknowledge
    SetError(res, FailedPreconditionError("the request log is unavailable: " + logged.message()), ex);
    return;
  }
  res.set_header("X-Flotilla-Answered-By", m->name);
  res.set_content(body, "application/json");
}

}  // namespace

void RegisterEmbeddingRoutes(Server::State& s) {
  s.http.Post("/v1/embeddings", [&s](const httplib::Request& req, httplib::Response& res) {
    HandleEmbeddings(s, req, res);
  });
}

}  // namespace flotilla::serve
