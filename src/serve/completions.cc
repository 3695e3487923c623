// POST /v1/chat/completions and POST /v1/completions: request -> prompt tokens -> scheduler job ->
// JSON response or an SSE stream of chunks ending with "data: [DONE]".
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <random>

#include <nlohmann/json.hpp>

#include "serve/errors.h"
#include "serve/openai_schema.h"
#include "serve/routing.h"
#include "serve/server_state.h"
#include "tokenizer/chat_template.h"

namespace flotilla::serve {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

uint64_t RandomU64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

std::string NewId(const char* prefix) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s-%016llx%08llx", prefix, static_cast<unsigned long long>(RandomU64()),
                static_cast<unsigned long long>(RandomU64() & 0xffffffffULL));
  return buf;
}

const char* FinishName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
    case FinishReason::kEndOfGeneration: return "stop";
    case FinishReason::kCancelled: return "cancelled";
    default: return "length";
  }
}

// Length of the longest prefix of `s` that does not end inside a UTF-8 sequence.
size_t CompleteUtf8(std::string_view s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    return len > back ? n - back : n;
  }
  return n;
}

// A parsed request of either endpoint, ready to become a job.
struct Prepared {
  bool chat = true;
  std::string id;
  int64_t created = 0;
  ServedModel* model = nullptr;
  route::Decision decision;  // who answers and why (local or fallback here)
  GenerationParams params;
  GenerationJob job;
};

// Tokens of the rendered conversation; BOS is added only when the template did not write it.
std::vector<int32_t> TokenizeConversation(const Tokenizer& tok, const std::string& text) {
  const Vocab& v = tok.vocab();
  const bool has_bos_text = v.bos >= 0 && text.rfind(v.tokens[static_cast<size_t>(v.bos)], 0) == 0;
  return tok.Encode(text, /*add_special=*/!has_bos_text, /*parse_special=*/true);
}

Status BuildJob(const Server::State& s, Prepared& p) {
  const GenerationParams& gp = p.params;
  if (gp.max_tokens && *gp.max_tokens > s.options.max_tokens_cap) {
    return ParamError("max_tokens", "max_tokens is " + std::to_string(*gp.max_tokens) + " but this server allows at most " +
                                        std::to_string(s.options.max_tokens_cap));
  }
  GenerationJob& job = p.job;
  job.max_tokens = gp.max_tokens.value_or(s.options.max_tokens_cap);
  job.stop = gp.stop;
  job.json_object = gp.json_object;
  if (gp.temperature) job.sampling.temperature = *gp.temperature;
  if (gp.top_p) job.sampling.top_p = *gp.top_p;
  job.sampling.presence_penalty = gp.presence_penalty;
  job.sampling.frequency_penalty = gp.frequency_penalty;
  job.sampling.seed = gp.seed ? *gp.seed : RandomU64();
  job.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(s.options.timeout_seconds);
  return Status::Ok();
}

StatusOr<ServedModel*> Lookup(Server::State& s, const std::string& name) {
  ServedModel* m = s.FindModel(name);
  if (m) return m;
  std::string names;
  for (const ServedModel& sm : s.models) names += (names.empty() ? "" : ", ") + sm.name;
  return Status(StatusCode::kNotFound, "the model '" + name + "' does not exist; this server has: " + names);
}

// A generative specialist's job for `r`, as `d` decided.
StatusOr<Prepared> PrepareLocal(Server::State& s, const ParsedRequest& r, const route::Decision& d) {
  Prepared p;
  p.chat = r.chat;
  p.id = NewId(r.chat ? "chatcmpl" : "cmpl");
  p.created = std::time(nullptr);
  p.params = r.params;
  p.decision = d;
  ASSIGN_OR_RETURN(p.model, Lookup(s, d.specialist->name));
  const Tokenizer& tok = p.model->model->tokenizer();
  if (r.chat) {
    ASSIGN_OR_RETURN(std::string prompt_text, ApplyChatTemplate(tok.vocab(), r.messages, true));
    p.job.prompt = TokenizeConversation(tok, prompt_text);
  } else {
    p.job.prompt = tok.Encode(r.prompt, /*add_special=*/true, /*parse_special=*/true);
  }
  if (p.job.prompt.empty()) return ParamError(r.chat ? "messages" : "prompt", "the prompt has no tokens");
  RETURN_IF_ERROR(BuildJob(s, p));
  return p;
}

json Usage(const GenerationOutput& out) {
  return {{"prompt_tokens", out.n_prompt},
          {"completion_tokens", out.n_completion},
          {"total_tokens", out.n_prompt + out.n_completion}};
}

// The complete (non-streaming) response body.
json ResponseJson(const Prepared& p, const GenerationOutput& out) {
  json choice = {{"index", 0}, {"finish_reason", FinishName(out.finish)}, {"logprobs", nullptr}};
  if (p.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", out.text}};
  } else {
    choice["text"] = out.text;
  }
  return {{"id", p.id},
          {"object", p.chat ? "chat.completion" : "text_completion"},
          {"created", p.created},
          {"model", p.model->name},
          {"choices", json::array({choice})},
          {"usage", Usage(out)},
          {"flotilla", RouteJson(p.decision, p.model->name)}};
}

// One streamed chunk with a content delta (`text`), a role delta, or a finish reason.
json ChunkJson(const Prepared& p, const std::string* text, const char* finish, bool role = false) {
  json choice = {{"index", 0}, {"finish_reason", finish ? json(finish) : json(nullptr)}, {"logprobs", nullptr}};
  if (p.chat) {
    json delta = json::object();
    if (role) delta["role"] = "assistant";
    if (text) delta["content"] = *text;
    if (role && !text) delta["content"] = "";
    choice["delta"] = delta;
  } else {
    choice["text"] = text ? *text : "";
  }
  return {{"id", p.id},
          {"object", p.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", p.created},
          {"model", p.model->name},
          {"choices", json::array({choice})}};
}

void RecordOutput(const Server::State& s, Exchange& ex, const Prepared& p, const GenerationOutput& out) {
  RecordDecision(s, ex, p.decision, p.model->name, out.n_prompt, out.n_completion);
  ex.record.http_status = out.finish == FinishReason::kCancelled ? 499 : 200;
}

// Non-streaming: waits for the job, cancelling it when the client disconnects.
void RespondWhole(Server::State& s, const httplib::Request& req, httplib::Response& res, Prepared& p,
                  Exchange& ex) {
  auto promise = std::make_shared<std::promise<StatusOr<GenerationOutput>>>();
  std::future<StatusOr<GenerationOutput>> done = promise->get_future();
  p.job.on_done = [promise](StatusOr<GenerationOutput> r) { promise->set_value(std::move(r)); };
  std::shared_ptr<std::atomic<bool>> cancel = p.job.cancel;
  if (Status st = p.model->scheduler->Submit(std::move(p.job)); !st.ok()) {
    if (st.code() == StatusCode::kResourceExhausted) s.metrics.RecordQueueRejection(p.model->name);
    SetError(res, st, ex);
    (void)Finish(s, ex);
    return;
  }
  ConnectionWatch watch(req);
  while (done.wait_for(50ms) != std::future_status::ready) {
    if (!cancel->load() && watch.PeerClosed()) cancel->store(true);
  }
  StatusOr<GenerationOutput> out = done.get();
  if (!out.ok()) {
    SetError(res, out.status(), ex);
    (void)Finish(s, ex);
    return;
  }
  RecordOutput(s, ex, p, *out);
  const std::string body = Dump(ResponseJson(p, *out));
  ex.record.response_json = body;
  if (Status logged = Finish(s, ex); !logged.ok()) {  // not durable: do not acknowledge
    SetError(res, FailedPreconditionError("the request log is unavailable: " + logged.message()), ex);
    return;
  }
  SetRouteHeaders(res, p.decision, p.model->name);
  res.set_content(body, "application/json");
}

}  // namespace

void RespondStream(Server::State& s, const httplib::Request& req, httplib::Response& res,
                   std::shared_ptr<Prepared> p, std::shared_ptr<Exchange> ex);

namespace {

// A classifier specialist answers a chat with its label.
void RespondLabel(Server::State& s, httplib::Response& res, const ParsedRequest& r, const route::Decision& d,
                  Exchange& ex) {
  TextAnswer a;
  a.text = d.label;
  a.answered_by = d.specialist->name;
  std::string all;
  for (const route::ChatMessage& m : r.UpstreamMessages()) all += m.content;
  a.prompt_tokens = route::EstimateTokens(all);
  a.completion_tokens = route::EstimateTokens(d.label);
  RespondText(s, res, r, d, a, ex);
}

// Parse, route (maybe escalate), then answer with the chosen specialist.
void HandleCompletion(Server::State& s, const httplib::Request& req, httplib::Response& res, bool chat) {
  auto ex = std::make_shared<Exchange>(chat ? "chat.completions" : "completions");
  ex->record.request_json = req.body;
  ex->record.model = ModelOfBody(req.body);
  auto fail = [&](const Status& st) {
    SetError(res, st, *ex);
    (void)Finish(s, *ex);
  };
  StatusOr<ParsedRequest> r = ParseRequest(req.body, chat);
  if (!r.ok()) return fail(r.status());
  if (r->params.max_tokens && *r->params.max_tokens > s.options.max_tokens_cap) {
    return fail(ParamError("max_tokens", "max_tokens is " + std::to_string(*r->params.max_tokens) +
                                             " but this server allows at most " +
                                             std::to_string(s.options.max_tokens_cap)));
  }
  StatusOr<route::Decision> d = s.fleet->router().Decide(r->model, r->RoutingText());
  if (!d.ok()) return fail(d.status());
  if (d->route == route::RouteKind::kEscalated && TryUpstream(s, res, *r, &*d, *ex)) return;
  if (d->specialist->kind == route::SpecialistKind::kClassifier) return RespondLabel(s, res, *r, *d, *ex);
  StatusOr<Prepared> p = PrepareLocal(s, *r, *d);
  if (!p.ok()) return fail(p.status());
  ex->record.prompt_tokens = static_cast<int32_t>(p->job.prompt.size());
  if (p->params.stream) {
    RespondStream(s, req, res, std::make_shared<Prepared>(std::move(*p)), ex);
  } else {
    RespondWhole(s, req, res, *p, *ex);
  }
}

}  // namespace

void RegisterCompletionRoutes(Server::State& s) {
  for (bool chat : {true, false}) {
    const char* path = chat ? "/v1/chat/completions" : "/v1/completions";
    s.http.Post(path, [&s, chat](const httplib::Request& req, httplib::Response& res) {
      HandleCompletion(s, req, res, chat);
    });
  }
}

// Streaming (SSE): the worker pushes chunks into a StreamQueue; httplib's content provider thread
// drains it into the socket. A failed write or a closed peer cancels the job.
struct StreamQueue {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::string> events;  // "data: ...\n\n"
  std::string pending;              // generated bytes not yet a whole UTF-8 sequence
  std::string text;                 // everything sent, for the log
  std::optional<StatusOr<GenerationOutput>> result;
};

namespace {

void OnText(const Prepared& p, StreamQueue& q, std::string_view piece) {
  std::lock_guard<std::mutex> lock(q.mutex);
  q.pending += piece;
  const size_t n = CompleteUtf8(q.pending);
  if (n == 0) return;
  std::string text = q.pending.substr(0, n);
  q.pending.erase(0, n);
  q.text += text;
  q.events.push_back("data: " + Dump(ChunkJson(p, &text, nullptr)) + "\n\n");
  q.cv.notify_one();
}

// Sends queued events until the job's result arrives; false when the client went away.
bool Pump(StreamQueue& q, httplib::DataSink& sink, const ConnectionWatch& watch, std::atomic<bool>& cancel) {
  while (true) {
    std::deque<std::string> batch;
    bool finished;
    {
      std::unique_lock<std::mutex> lock(q.mutex);
      q.cv.wait_for(lock, 100ms, [&] { return !q.events.empty() || q.result.has_value(); });
      batch.swap(q.events);
      finished = q.result.has_value();
    }
    for (const std::string& e : batch) {
      if (!sink.write(e.data(), e.size())) return false;
    }
    if (finished) return true;
    if (watch.PeerClosed()) return false;
  }
}

}  // namespace

void RespondStream(Server::State& s, const httplib::Request& req, httplib::Response& res,
                   std::shared_ptr<Prepared> p, std::shared_ptr<Exchange> ex) {
  auto q = std::make_shared<StreamQueue>();
  GenerationJob job = std::move(p->job);
  std::shared_ptr<std::atomic<bool>> cancel = job.cancel;
  job.on_text = [p, q](std::string_view piece) { OnText(*p, *q, piece); };
  job.on_done = [q](StatusOr<GenerationOutput> r) {
    std::lock_guard<std::mutex> lock(q->mutex);
    q->result = std::move(r);
    q->cv.notify_one();
  };
  if (Status st = p->model->scheduler->Submit(std::move(job)); !st.ok()) {
    if (st.code() == StatusCode::kResourceExhausted) s.metrics.RecordQueueRejection(p->model->name);
    SetError(res, st, *ex);
    (void)Finish(s, *ex);
    return;
  }
  auto watch = std::make_shared<ConnectionWatch>(req);
  res.set_header("Cache-Control", "no-cache");
  SetRouteHeaders(res, p->decision, p->model->name);
  res.set_chunked_content_provider(
      "text/event-stream",
      [&s, p, ex, q, cancel, watch](size_t, httplib::DataSink& sink) {
        const std::string first = "data: " + Dump(ChunkJson(*p, nullptr, nullptr, /*role=*/true)) + "\n\n";
        const bool alive = (!p->chat || sink.write(first.data(), first.size())) && Pump(*q, sink, *watch, *cancel);
        if (!alive) cancel->store(true);
        {
          std::unique_lock<std::mutex> lock(q->mutex);
          q->cv.wait(lock, [&] { return q->result.has_value(); });  // quick once cancelled
        }
        StatusOr<GenerationOutput>& out = *q->result;
        std::string tail;
        if (!out.ok()) {
          ex->record.http_status = HttpErrorFor(out.status()).http_status;
          ex->record.response_json = ErrorJson(out.status());
          tail = "data: " + ex->record.response_json + "\n\n";
        } else {
          RecordOutput(s, *ex, *p, *out);
          if (!alive) ex->record.http_status = 499;
          GenerationOutput logged = *out;
          logged.text = q->text + q->pending;
          ex->record.response_json = Dump(ResponseJson(*p, logged));
          std::string rest = q->pending;
          if (!rest.empty()) tail += "data: " + Dump(ChunkJson(*p, &rest, nullptr)) + "\n\n";
          json last = ChunkJson(*p, nullptr, FinishName(out->finish));
          last["flotilla"] = RouteJson(p->decision, p->model->name);
          tail += "data: " + Dump(last) + "\n\n";
          if (p->params.include_usage) {
            json usage = ChunkJson(*p, nullptr, nullptr);
            usage["choices"] = json::array();
            usage["usage"] = Usage(*out);
            tail += "data: " + Dump(usage) + "\n\n";
          }
        }
        Status logged = Finish(s, *ex);  // durable before [DONE] acknowledges the stream
        if (!alive) return false;
        if (!logged.ok()) {
          tail = "data: " + ErrorJson(FailedPreconditionError("the request log is unavailable")) + "\n\n";
        } else if (out.ok()) {
          tail += "data: [DONE]\n\n";
        }
        sink.write(tail.data(), tail.size());
        sink.done();
        return true;
      },
      [cancel](bool success) {
        if (!success) cancel->store(true);
      });
}

}  // namespace flotilla::serve
