// Server metrics in the Prometheus text exposition format (version 0.0.4).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace flotilla::serve {

class Metrics {
 public:
  // One finished request: endpoint ("chat.completions"), model as named ("" when none), HTTP status,
  // wall time in seconds, and tokens.
  void RecordRequest(const std::string& endpoint, const std::string& model, int http_status, double seconds,
                     int64_t prompt_tokens, int64_t completion_tokens);
  void RecordQueueRejection(const std::string& model);
  // One answered request the router decided: route ("local", "escalated", "fallback"), the specialist
  // chosen, estimated cost and savings in USD (route/router.h EstimateCost).
  void RecordRoute(const std::string& route, const std::string& specialist, double cost_usd, double savings_usd);
  // A request sent to the upstream, by reason code ("router_confidence", "classifier_confidence").
  void RecordEscalation(const std::string& reason);
  // An upstream failure by kind (route/router.h UpstreamErrorKind).
  void RecordUpstreamError(const std::string& kind);
  // Tokens the upstream reported for one answer.
  void RecordUpstreamTokens(int64_t prompt_tokens, int64_t completion_tokens);

  // Renders all series; `queue_depths` (model -> jobs waiting) become a gauge.
  std::string Render(const std::map<std::string, int32_t>& queue_depths) const;

  // Histogram bucket upper bounds in seconds (+Inf is implicit).
  static const std::vector<double>& LatencyBuckets();

 private:
  struct Histogram {
    std::vector<uint64_t> counts;  // per bucket (not cumulative), plus one for +Inf
    double sum = 0.0;
    uint64_t count = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // (endpoint, model, status)
  std::map<std::string, uint64_t> prompt_tokens_, completion_tokens_, rejections_;  // by model
  std::map<std::string, Histogram> latency_;  // by endpoint
  std::map<std::pair<std::string, std::string>, uint64_t> routed_;  // (route, specialist)
  std::map<std::string, uint64_t> escalations_, upstream_errors_;     // by reason, by kind
  uint64_t upstream_prompt_tokens_ = 0, upstream_completion_tokens_ = 0;
  double cost_usd_ = 0, savings_usd_ = 0;
};

}  // namespace flotilla::serve
