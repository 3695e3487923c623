#include "serve/metrics.h"

#include <cstdio>

namespace flotilla::serve {
namespace {

// Label values escape backslash, double quote and newline.
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace

const std::vector<double>& Metrics::LatencyBuckets() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

void Metrics::RecordRequest(const std::string& endpoint, const std::string& model, int http_status,
                            double seconds, int64_t prompt_tokens, int64_t completion_tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{endpoint, model, http_status}];
  if (prompt_tokens > 0) prompt_tokens_[model] += static_cast<uint64_t>(prompt_tokens);
  if (completion_tokens > 0) completion_tokens_[model] += static_cast<uint64_t>(completion_tokens);
  Histogram& h = latency_[endpoint];
  const std::vector<double>& b = LatencyBuckets();
  if (h.counts.empty()) h.counts.assign(b.size() + 1, 0);
  size_t i = 0;
  while (i < b.size() && seconds > b[i]) ++i;
  ++h.counts[i];
  h.sum += seconds;
  ++h.count;
}

void Metrics::RecordQueueRejection(const std::string& model) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++rejections_[model];
}

std::string Metrics::Render(const std::map<std::string, int32_t>& queue_depths) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string o;
  o += "# HELP flotilla_requests_total Requests answered, by endpoint, model and HTTP status.\n";
  o += "# TYPE flotilla_requests_total counter\n";
  for (const auto& [k, n] : requests_) {
    o += "flotilla_requests_total{endpoint=\"" + Escape(std::get<0>(k)) + "\",model=\"" + Escape(std::get<1>(k)) +
         "\",status=\"" + std::to_string(std::get<2>(k)) + "\"} " + std::to_string(n) + "\n";
  }
  auto counter = [&](const char* name, const char* help, const std::map<std::string, uint64_t>& m) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [model, n] : m) {
      o += std::string(name) + "{model=\"" + Escape(model) + "\"} " + std::to_string(n) + "\n";
    }
  };
  counter("flotilla_prompt_tokens_total", "Prompt tokens evaluated.", prompt_tokens_);
  counter("flotilla_completion_tokens_total", "Tokens generated.", completion_tokens_);
  counter("flotilla_queue_rejections_total", "Requests refused with 429 because the queue was full.", rejections_);
  o += "# HELP flotilla_request_duration_seconds Wall time from request to response end.\n";
  o += "# TYPE flotilla_request_duration_seconds histogram\n";
  const std::vector<double>& b = LatencyBuckets();
  for (const auto& [endpoint, h] : latency_) {
    const std::string label = "endpoint=\"" + Escape(endpoint) + "\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= b.size(); ++i) {
      cumulative += h.counts[i];
      const std::string le = i < b.size() ? Num(b[i]) : "+Inf";
      o += "flotilla_request_duration_seconds_bucket{" + label + ",le=\"" + le + "\"} " +
           std::to_string(cumulative) + "\n";
    }
    o += "flotilla_request_duration_seconds_sum{" + label + "} " + Num(h.sum) + "\n";
    o += "flotilla_request_duration_seconds_count{" + label + "} " + std::to_string(h.count) + "\n";
  }
  o += "# HELP flotilla_queue_depth Requests waiting for a model.\n# TYPE flotilla_queue_depth gauge\n";
  for (const auto& [model, n] : queue_depths) {
    o += "flotilla_queue_depth{model=\"" + Escape(model) + "\"} " + std::to_string(n) + "\n";
  }
  return o;
}

}  // namespace flotilla::serve
