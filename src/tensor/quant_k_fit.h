// Scale searches shared by the K-quant quantizers (internal to tensor/).
//
// Each fit picks quantization parameters for one sub-block that minimise the weighted squared error
//   sum_i w[i] * (x[i] - xhat[i])^2
// over a small set of candidate inverse scales, solving for the best scale (and offset) in closed form
// (weighted least squares) for each candidate's integer assignment.
#pragma once

#include <cstdint>

namespace flotilla::kquant {

// Asymmetric fit: x[i] ~= scale * L[i] - min with L[i] in [0, nmax], scale >= 0 and min >= 0 (the
// offset never exceeds 0, as K-quants store it as a subtracted non-negative min). Writes L, returns
// scale; *min receives the (non-negative) min.
float FitScaleMin(int n, int nmax, const float* x, const float* w, uint8_t* L, float* min);

// Symmetric fit: x[i] ~= scale * L[i] with L[i] in [-nmax, nmax - 1] (scale may be negative so that the
// extreme value lands on -nmax, the side with the extra level). Writes L, returns scale (0 when x is 0).
float FitScale(int n, int nmax, const float* x, const float* w, int8_t* L);

// Quantizes non-negative values v[0..n) to integers q in [0, qmax] with one shared step, chosen to
// minimise sum w[i] (v[i] - step*q[i])^2 over a few candidate steps. Returns the step (0 if all v are 0).
float FitPositiveSteps(int n, int qmax, const float* v, const float* w, uint8_t* q);

// round-half-away-from-zero of v clamped to [lo, hi]; NaN gives lo.
int RoundClamp(float v, int lo, int hi);

// One quantized super-block of kQK_K values with per-sub-block scales and mins (Q2_K, Q4_K, Q5_K):
// x[i] ~= d * sc[s] * L[i] - dmin * mn[s] for s = i / sub_len; sc, mn in [0, scale_max], L in [0, nmax].
struct ScaleMinBlock {
  float d = 0, dmin = 0;
  uint8_t sc[16] = {}, mn[16] = {};
  uint8_t L[256] = {};
};
// d and dmin come back rounded to half precision, as the formats store them (Q2_K..Q6_K).
void QuantizeScaleMinBlock(const float* x, int sub_len, int nmax, int scale_max, ScaleMinBlock* out);

// One symmetric super-block (Q3_K, Q6_K): x[i] ~= d * sc[i / 16] * L[i], sc in [-scale_lo, scale_lo-1],
// L in [-nmax, nmax-1].
struct ScaleBlock {
  float d = 0;
  int8_t sc[16] = {};
  int8_t L[256] = {};
};
void QuantizeScaleBlock(const float* x, int nmax, int scale_lo, ScaleBlock* out);

// Q4_K/Q5_K 6-bit scale/min packing (12 bytes for 8 scales and 8 mins, each in 0..63):
//   j < 4:  scales[j] bits 0..5 = sc[j],  scales[j+4] bits 0..5 = mn[j]
//   j >= 4: scales[j+4] = (sc[j] & 15) | (mn[j] & 15) << 4; the top two bits of sc[j] go to bits 6..7 of
//           scales[j-4], those of mn[j] to bits 6..7 of scales[j].
void PackScalesMinsK(const uint8_t sc[8], const uint8_t mn[8], uint8_t packed[12]);
void GetScaleMinK4(int j, const uint8_t packed[12], uint8_t* sc, uint8_t* mn);

// Q3_K 6-bit scale packing (16 values in 0..63, the stored form of a signed scale + 32).
void PackScalesQ3K(const uint8_t sc[16], uint8_t packed[12]);
void UnpackScalesQ3K(const uint8_t packed[12], uint8_t sc[16]);

}  // namespace flotilla::kquant
