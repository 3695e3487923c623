// Scale searches and scale packing for the K-quants (see quant_k_fit.h for the contracts).
#include "tensor/quant_k_fit.h"

#include <cmath>
#include <cstring>

#include "flotilla/check.h"
#include "tensor/fp16.h"

namespace flotilla::kquant {
namespace {

constexpr int kMaxSub = 32;  // largest sub-block the fits handle

// Weighted least squares for x ~= a * L + b given integer L. Returns false when the system is singular
// (all L equal). Sums are in double: sub-blocks are short, precision is cheap.
bool SolveAffine(int n, const float* x, const float* w, const uint8_t* L, float* a, float* b) {
  double sw = 0, sl = 0, sl2 = 0, sx = 0, slx = 0;
  for (int i = 0; i < n; ++i) {
    sw += w[i];
    sl += w[i] * L[i];
    sl2 += w[i] * L[i] * L[i];
    sx += w[i] * x[i];
    slx += w[i] * L[i] * x[i];
  }
  const double det = sw * sl2 - sl * sl;
  if (det <= 0) return false;
  double aa = (sw * slx - sl * sx) / det;
  double bb = (sl2 * sx - sl * slx) / det;
  if (bb > 0) {  // the offset must stay <= 0: refit the scale alone with b = 0
    bb = 0;
    aa = sl2 > 0 ? slx / sl2 : 0;
  }
  *a = static_cast<float>(aa);
  *b = static_cast<float>(bb);
  return true;
}

double AffineError(int n, const float* x, const float* w, const uint8_t* L, float a, float b) {
  double err = 0;
  for (int i = 0; i < n; ++i) {
    const double diff = a * L[i] + b - x[i];
    err += w[i] * diff * diff;
  }
  return err;
}

}  // namespace

int RoundClamp(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(std::lround(v));
}

float FitScaleMin(int n, int nmax, const float* x, const float* w, uint8_t* L, float* min) {
  CHECK(n > 0 && n <= kMaxSub);
  float xmin = x[0], xmax = x[0];
  for (int i = 1; i < n; ++i) {
    xmin = std::fmin(xmin, x[i]);
    xmax = std::fmax(xmax, x[i]);
  }
  if (xmin > 0) xmin = 0;  // the offset is -min with min >= 0
  if (!(xmax > xmin)) {
    std::memset(L, 0, n);
    *min = -xmin;
    return 0.0f;
  }
  // Baseline: the plain min/max grid.
  float best_a = (xmax - xmin) / nmax, best_b = xmin;
  for (int i = 0; i < n; ++i) L[i] = RoundClamp((x[i] - xmin) / best_a, 0, nmax);
  double best_err = AffineError(n, x, w, L, best_a, best_b);
  // Candidates: grids slightly finer and coarser than min/max, each refit by least squares.
  uint8_t trial[kMaxSub];
  for (int step = -10; step <= 10; ++step) {
    const float iscale = (nmax + 0.1f * step) / (xmax - xmin);
    for (int i = 0; i < n; ++i) trial[i] = RoundClamp(iscale * (x[i] - xmin), 0, nmax);
    float a, b;
    if (!SolveAffine(n, x, w, trial, &a, &b) || !(a > 0)) continue;
    // Re-round against the fitted grid once: the fit moved it, nearer levels may now be better.
    for (int i = 0; i < n; ++i) trial[i] = RoundClamp((x[i] - b) / a, 0, nmax);
    if (!SolveAffine(n, x, w, trial, &a, &b) || !(a > 0)) continue;
    const double err = AffineError(n, x, w, trial, a, b);
    if (err < best_err) {
      best_err = err;
      best_a = a;
      best_b = b;
      std::memcpy(L, trial, n);
    }
  }
  *min = -best_b;
  return best_a;
}

float FitScale(int n, int nmax, const float* x, const float* w, int8_t* L) {
  CHECK(n > 0 && n <= kMaxSub);
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  std::memset(L, 0, n);
  if (!(amax > 0)) return 0.0f;
  // For a given L the best scale is sum(w x L) / sum(w L^2) and the error drops by
  // sum(w x L)^2 / sum(w L^2): maximise that.
  double best_gain = -1;
  float best_scale = 0;
  int8_t trial[kMaxSub];
  for (int step = -9; step <= 9; ++step) {
    const float iscale = -(nmax + 0.1f * step) / max;
    double sxl = 0, sl2 = 0;
    for (int i = 0; i < n; ++i) {
      trial[i] = static_cast<int8_t>(RoundClamp(iscale * x[i], -nmax, nmax - 1));
      sxl += w[i] * x[i] * trial[i];
      sl2 += w[i] * trial[i] * trial[i];
    }
    if (sl2 <= 0) continue;
    const double gain = sxl * sxl / sl2;
    if (gain > best_gain) {
      best_gain = gain;
      best_scale = static_cast<float>(sxl / sl2);
      std::memcpy(L, trial, n);
    }
  }
  return best_scale;
}

float FitPositiveSteps(int n, int qmax, const float* v, const float* w, uint8_t* q) {
  CHECK(n > 0 && n <= kMaxSub);
  float vmax = 0;
  for (int i = 0; i < n; ++i) vmax = std::fmax(vmax, v[i]);
  std::memset(q, 0, n);
  if (!(vmax > 0)) return 0.0f;
  float best_step = vmax / qmax;
  double best_err = -1;
  uint8_t trial[kMaxSub];
  for (int k = -4; k <= 8; ++k) {  // steps from a little coarser to a little finer than vmax / qmax
    const float step = vmax / (qmax + 0.25f * k);
    double svq = 0, sq2 = 0;
    for (int i = 0; i < n; ++i) {
      trial[i] = static_cast<uint8_t>(RoundClamp(v[i] / step, 0, qmax));
      svq += w[i] * v[i] * trial[i];
      sq2 += w[i] * trial[i] * trial[i];
    }
    const float fitted = sq2 > 0 ? static_cast<float>(svq / sq2) : step;
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const double d = v[i] - fitted * trial[i];
      err += w[i] * d * d;
    }
    if (best_err < 0 || err < best_err) {
      best_err = err;
      best_step = fitted;
      std::memcpy(q, trial, n);
    }
  }
  return best_step;
}

void PackScalesMinsK(const uint8_t sc[8], const uint8_t mn[8], uint8_t packed[12]) {
  for (int j = 0; j < 4; ++j) {
    packed[j] = sc[j] & 63;
    packed[j + 4] = mn[j] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    packed[j + 4] = static_cast<uint8_t>((sc[j] & 15) | ((mn[j] & 15) << 4));
    packed[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
    packed[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
  }
}

void GetScaleMinK4(int j, const uint8_t packed[12], uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = packed[j] & 63;
    *mn = packed[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((packed[j + 4] & 15) | ((packed[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

void PackScalesQ3K(const uint8_t sc[16], uint8_t packed[12]) {
  std::memset(packed, 0, 12);
  for (int i = 0; i < 16; ++i) {
    packed[i % 8] |= static_cast<uint8_t>((sc[i] & 15) << (4 * (i / 8)));
    packed[8 + i % 4] |= static_cast<uint8_t>(((sc[i] >> 4) & 3) << (2 * (i / 4)));
  }
}

void UnpackScalesQ3K(const uint8_t packed[12], uint8_t sc[16]) {
  for (int i = 0; i < 16; ++i) {
    const int lo = (packed[i % 8] >> (4 * (i / 8))) & 15;
    const int hi = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
    sc[i] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

}  // namespace flotilla::kquant

namespace flotilla::kquant {

// Sub-blocks are fitted with weights sigma + |x| (sigma: the super-block's RMS), which favours the
// larger values a little; then the sub-block scales and mins are themselves quantized with one step
// each, and every L is re-rounded against the final (quantized) scale and min.
void QuantizeScaleMinBlock(const float* x, int sub_len, int nmax, int scale_max, ScaleMinBlock* out) {
  constexpr int kN = 256;
  const int n_sub = kN / sub_len;
  CHECK(n_sub <= 16 && sub_len <= kMaxSub);
  double sum_x2 = 0;
  for (int i = 0; i < kN; ++i) sum_x2 += static_cast<double>(x[i]) * x[i];
  const float sigma = static_cast<float>(std::sqrt(sum_x2 / kN));
  float w[kN];
  for (int i = 0; i < kN; ++i) w[i] = sigma + std::fabs(x[i]);

  float scales[16], mins[16], ones[16];
  for (int s = 0; s < n_sub; ++s) {
    scales[s] = FitScaleMin(sub_len, nmax, x + s * sub_len, w + s * sub_len, out->L + s * sub_len,
                            &mins[s]);
    ones[s] = 1.0f;
  }
  out->d = FitPositiveSteps(n_sub, scale_max, scales, ones, out->sc);
  out->dmin = FitPositiveSteps(n_sub, scale_max, mins, ones, out->mn);
  // d and dmin are stored as half: re-round the integer scales and mins against the stored steps (a
  // tiny step is a half subnormal with few bits; the integers absorb its rounding), then L likewise.
  out->d = FP16ToFP32(FP32ToFP16(out->d));
  out->dmin = FP16ToFP32(FP32ToFP16(out->dmin));
  for (int s = 0; s < n_sub; ++s) {
    out->sc[s] = out->d > 0 ? static_cast<uint8_t>(RoundClamp(scales[s] / out->d, 0, scale_max)) : 0;
    out->mn[s] = out->dmin > 0 ? static_cast<uint8_t>(RoundClamp(mins[s] / out->dmin, 0, scale_max)) : 0;
  }
  for (int s = 0; s < n_sub; ++s) {
    const float step = out->d * out->sc[s];
    const float off = out->dmin * out->mn[s];
    for (int i = s * sub_len; i < (s + 1) * sub_len; ++i) {
      out->L[i] = step > 0 ? static_cast<uint8_t>(RoundClamp((x[i] + off) / step, 0, nmax)) : 0;
    }
  }
}

// Sub-blocks of 16 fitted with weights x^2 (the large values dominate, as llama.cpp does for Q6_K);
// the signed sub-block scales share one step chosen so that the largest lands on -scale_lo.
void QuantizeScaleBlock(const float* x, int nmax, int scale_lo, ScaleBlock* out) {
  constexpr int kN = 256, kSub = 16;
  float w[kN];
  for (int i = 0; i < kN; ++i) w[i] = x[i] * x[i];
  float scales[kN / kSub];
  float amax = 0, max = 0;
  for (int s = 0; s < kN / kSub; ++s) {
    scales[s] = FitScale(kSub, nmax, x + s * kSub, w + s * kSub, out->L + s * kSub);
    if (std::fabs(scales[s]) > amax) {
      amax = std::fabs(scales[s]);
      max = scales[s];
    }
  }
  if (!(amax > 0)) {
    *out = ScaleBlock();
    return;
  }
  const float iscale = -static_cast<float>(scale_lo) / max;
  // d is stored as half; the integer scales are rounded against the stored value so that they absorb
  // its rounding (small weights give subnormal halves with few significant bits).
  out->d = FP16ToFP32(FP32ToFP16(1.0f / iscale));
  if (out->d == 0) {
    *out = ScaleBlock();
    return;
  }
  for (int s = 0; s < kN / kSub; ++s) {
    out->sc[s] = static_cast<int8_t>(RoundClamp(scales[s] / out->d, -scale_lo, scale_lo - 1));
    const float step = out->d * out->sc[s];
    for (int i = s * kSub; i < (s + 1) * kSub; ++i) {
      out->L[i] = step != 0 ? static_cast<int8_t>(RoundClamp(x[i] / step, -nmax, nmax - 1)) : 0;
    }
  }
}

}  // namespace flotilla::kquant
