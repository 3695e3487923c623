// Turns logits into the next token: penalties, then top-k, top-p, min-p and temperature, then a
// seeded draw — in llama.cpp's order and with its defaults. Temperature <= 0 means greedy.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

#include "flotilla/status.h"

namespace flotilla {

struct SamplerOptions {
  float temperature = 0.8f;
  int32_t top_k = 40;             // <= 0: all tokens
  float top_p = 0.95f;            // >= 1: off
  float min_p = 0.05f;            // <= 0: off
  float repeat_penalty = 1.0f;    // 1: off
  int32_t repeat_last_n = 64;     // tokens the penalties look back over (0: none, -1: all)
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  uint64_t seed = 0;              // the same seed gives the same draws
};

class Sampler {
 public:
  // INVALID_ARGUMENT for negative temperature/penalty values outside their ranges.
  static StatusOr<Sampler> Create(const SamplerOptions& options);

  // Picks a token from logits ([n_vocab]); does not record it (see Accept).
  int32_t Sample(std::span<const float> logits);
  // Records a token of the sequence (prompt or generated) for the penalties.
  void Accept(int32_t token);
  void Reset();

 private:
  explicit Sampler(const SamplerOptions& options) : options_(options), rng_(options.seed) {}
  struct Candidate {
    int32_t id;
    float logit;
  };
  void ApplyPenalties(std::vector<Candidate>& c) const;

  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::deque<int32_t> history_;
};

}  // namespace flotilla
