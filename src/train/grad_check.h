// Test helper: central finite differences of a scalar loss against analytic gradients.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace flotilla::train::testutil {

struct Tolerance {
  double eps = 1e-3;   // step of the central difference
  double atol = 1e-3;  // |numeric - analytic| <= atol + rtol * |analytic|
  double rtol = 1e-2;
};

// Checks d(loss)/d(x[i]) == analytic[i] for `max_checks` indices of x (all when x is smaller),
// perturbing x in place and restoring it. Returns the largest relative error seen.
inline double CheckGradient(const std::string& what, float* x, int64_t n, const float* analytic,
                            const std::function<double()>& loss, Tolerance tol = {}, int max_checks = 64,
                            uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  double worst = 0.0;
  for (int c = 0; c < std::min<int64_t>(n, max_checks); ++c) {
    const int64_t i = n <= max_checks ? c : static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
    const float saved = x[i];
    x[i] = static_cast<float>(saved + tol.eps);
    const double plus = loss();
    x[i] = static_cast<float>(saved - tol.eps);
    const double minus = loss();
    x[i] = saved;
    const double numeric = (plus - minus) / (2 * tol.eps);
    const double err = std::abs(numeric - analytic[i]);
    worst = std::max(worst, err / (std::abs(analytic[i]) + 1e-3));
    EXPECT_LE(err, tol.atol + tol.rtol * std::abs(analytic[i]))
        << what << "[" << i << "]: numeric " << numeric << " analytic " << analytic[i];
  }
  return worst;
}

inline std::vector<float> RandomVector(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

// sum_i y[i] * r[i] in double: a scalar loss whose gradient with respect to y is r.
inline double Project(const std::vector<float>& y, const std::vector<float>& r) {
  double s = 0.0;
  for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * r[i];
  return s;
}

}  // namespace flotilla::train::testutil
