#include "serve/metrics.h"

#include <algorithm>
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

void Metrics::RecordRoute(const std::string& route, const std::string& specialist, double cost_usd,
                          double savings_usd) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++routed_[{route, specialist}];
  cost_usd_ += cost_usd;
  savings_usd_ += savings_usd;
}

void Metrics::RecordEscalation(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++escalations_[reason];
}

void Metrics::RecordUpstreamError(const std::string& kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++upstream_errors_[kind];
}

void Metrics::RecordUpstreamTokens(int64_t prompt_tokens, int64_t completion_tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  upstream_prompt_tokens_ += static_cast<uint64_t>(std::max<int64_t>(0, prompt_tokens));
  upstream_completion_tokens_ += static_cast<uint64_t>(std::max<int64_t>(0, completion_tokens));
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
  o += "# HELP flotilla_routed_total Answered requests by route (local, escalated, fallback) and chosen specialist.\n";
  o += "# TYPE flotilla_routed_total counter\n";
  for (const auto& [k, n] : routed_) {
    o += "flotilla_routed_total{route=\"" + Escape(k.first) + "\",specialist=\"" + Escape(k.second) + "\"} " +
         std::to_string(n) + "\n";
  }
  auto by = [&](const char* name, const char* label, const char* help, const std::map<std::string, uint64_t>& m) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [v, n] : m) o += std::string(name) + "{" + label + "=\"" + Escape(v) + "\"} " + std::to_string(n) + "\n";
  };
  by("flotilla_escalations_total", "reason", "Requests sent to the upstream model, by reason.", escalations_);
  by("flotilla_upstream_errors_total", "kind", "Upstream failures (timeout, connect, http_4xx, http_5xx, malformed).",
     upstream_errors_);
  o += "# HELP flotilla_upstream_tokens_total Tokens the upstream reported, by kind.\n";
  o += "# TYPE flotilla_upstream_tokens_total counter\n";
  o += "flotilla_upstream_tokens_total{kind=\"prompt\"} " + std::to_string(upstream_prompt_tokens_) + "\n";
  o += "flotilla_upstream_tokens_total{kind=\"completion\"} " + std::to_string(upstream_completion_tokens_) + "\n";
  o += "# HELP flotilla_cost_usd_total Estimated cost of the answers: upstream tokens x upstream prices plus local "
       "tokens x local price.\n# TYPE flotilla_cost_usd_total counter\n";
  o += "flotilla_cost_usd_total " + Num(cost_usd_) + "\n";
  o += "# HELP flotilla_savings_usd_total What the answered requests would have cost at the upstream's prices, "
       "minus the estimated cost.\n# TYPE flotilla_savings_usd_total counter\n";
  o += "flotilla_savings_usd_total " + Num(savings_usd_) + "\n";
  o += "# HELP flotilla_queue_depth Requests waiting for a model.\n# TYPE flotilla_queue_depth gauge\n";
  for (const auto& [model, n] : queue_depths) {
    o += "flotilla_queue_depth{model=\"" + Escape(model) + "\"} " + std::to_string(n) + "\n";
  }
  return o;
}

}  // namespace flotilla::serve
