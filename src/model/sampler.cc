#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace flotilla {

StatusOr<Sampler> Sampler::Create(const SamplerOptions& o) {
  if (!(o.temperature >= 0.0f) && !(o.temperature < 0.0f)) return InvalidArgumentError("temperature is NaN");
  if (!(o.top_p > 0.0f)) return InvalidArgumentError("top_p must be > 0");
  if (!(o.min_p <= 1.0f)) return InvalidArgumentError("min_p must be <= 1");
  if (!(o.repeat_penalty > 0.0f)) return InvalidArgumentError("repeat_penalty must be > 0");
  if (o.repeat_last_n < -1) return InvalidArgumentError("repeat_last_n must be >= -1");
  if (!std::isfinite(o.presence_penalty) || !std::isfinite(o.frequency_penalty)) {
    return InvalidArgumentError("presence and frequency penalties must be finite");
  }
  return Sampler(o);
}

void Sampler::Accept(int32_t token) {
  history_.push_back(token);
  const size_t keep = options_.repeat_last_n < 0 ? SIZE_MAX : static_cast<size_t>(options_.repeat_last_n);
  while (history_.size() > keep) history_.pop_front();
}

void Sampler::Reset() { history_.clear(); }

// llama.cpp's penalties: a repeated token's positive logit is divided by repeat_penalty, a negative
// one multiplied; then count * frequency + (count > 0) * presence is subtracted.
void Sampler::ApplyPenalties(std::vector<Candidate>& c) const {
  if (history_.empty() || (options_.repeat_penalty == 1.0f && options_.presence_penalty == 0.0f &&
                           options_.frequency_penalty == 0.0f)) {
    return;
  }
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : history_) ++counts[t];
  for (const auto& [id, count] : counts) {
    if (id < 0 || id >= static_cast<int32_t>(c.size())) continue;
    float& l = c[static_cast<size_t>(id)].logit;
    l = l <= 0.0f ? l * options_.repeat_penalty : l / options_.repeat_penalty;
    l -= static_cast<float>(count) * options_.frequency_penalty + options_.presence_penalty;
  }
}

int32_t Sampler::Sample(std::span<const float> logits) {
  std::vector<Candidate> c(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) c[i] = {static_cast<int32_t>(i), logits[i]};
  ApplyPenalties(c);
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (options_.temperature <= 0.0f) return std::min_element(c.begin(), c.end(), by_logit)->id;

  // top-k (sorted, best first)
  size_t k = options_.top_k > 0 ? std::min(c.size(), static_cast<size_t>(options_.top_k)) : c.size();
  std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(k), c.end(), by_logit);
  c.resize(k);
  // Probabilities before temperature, for top-p and min-p (as llama.cpp's chain does).
  auto softmax = [&](float temperature) {
    std::vector<double> p(c.size());
    double sum = 0.0;
    for (size_t i = 0; i < c.size(); ++i) sum += p[i] = std::exp((c[i].logit - c[0].logit) / temperature);
    for (double& x : p) x /= sum;
    return p;
  };
  std::vector<double> p = softmax(1.0f);
  if (options_.top_p < 1.0f) {  // keep the smallest prefix whose mass reaches top_p
    double mass = 0.0;
    size_t keep = c.size();
    for (size_t i = 0; i < c.size(); ++i) {
      mass += p[i];
      if (mass >= options_.top_p) { keep = i + 1; break; }
    }
    c.resize(keep);
    p.resize(keep);
  }
  if (options_.min_p > 0.0f) {  // drop tokens below min_p times the best probability
    size_t keep = 1;
    while (keep < c.size() && p[keep] >= options_.min_p * p[0]) ++keep;
    c.resize(keep);
  }
  std::vector<double> q = softmax(options_.temperature);
  std::discrete_distribution<size_t> draw(q.begin(), q.end());
  return c[draw(rng_)].id;
}

}  // namespace flotilla
