// Highway versions of the activation quantizers declared in quantize_acts.h.
//
// Bit-exactness with the references rests on three facts: the scale is computed by the same scalar
// float operations from the same block maximum (|x| with NaN skipped, as SignedAbsMax and fmax do);
// x * inverse-scale is one IEEE multiply in both; and rounding emulates roundf / lround (half away
// from zero, not the vector unit's ties-to-even): t = trunc(v), plus sign(v) when |v - t| >= 0.5
// (v - t is exact for every float). NaN and the clamp to [-127, 127] follow each reference's order of
// tests: RoundToInt8 maps NaN to 0, kquant::RoundClamp maps it to the lower bound, -127.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quantize_acts_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>

#include "flotilla/check.h"
#include "kernels/quantize_acts.h"
#include "tensor/fp16.h"

HWY_BEFORE_NAMESPACE();
namespace flotilla {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 float lanes, so that a vector never spans two Q8_K bsums groups (16 values) and every
// block size (32, 256) is a whole number of vectors.
using DF = hn::CappedTag<float, 16>;

// Largest |x[i]| for i < n (n a multiple of the lane count), NaN skipped; 0 when all are zero/NaN.
HWY_INLINE float AbsMaxNoNaN(const float* x, int n) {
  const DF df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  auto m = hn::Zero(df);
  for (int i = 0; i < n; i += lanes) {
    const auto v = hn::LoadU(df, x + i);
    m = hn::Max(m, hn::IfThenElseZero(hn::Eq(v, v), hn::Abs(v)));
  }
  return hn::GetLane(hn::MaxOfLanes(df, m));
}

// roundf(v) for every non-NaN v: half away from zero; +-Inf stay infinite.
HWY_INLINE hn::Vec<DF> RoundHalfAway(hn::Vec<DF> v) {
  const DF df;
  const auto t = hn::Trunc(v);
  const auto away = hn::Ge(hn::Abs(hn::Sub(v, t)), hn::Set(df, 0.5f));  // false for +-Inf (NaN diff)
  return hn::IfThenElse(away, hn::Add(t, hn::CopySign(hn::Set(df, 1.0f), v)), t);
}

// q[0..n) = clamp(roundf(scale * x), -127, 127) with NaN products mapped to nan_to; returns the sum
// of the quants. n is a multiple of the lane count.
HWY_INLINE int32_t QuantizeSpan(const float* x, int n, float scale, float nan_to, int8_t* q) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<int8_t, DF> d8;
  const int lanes = static_cast<int>(hn::Lanes(df));
  const auto vscale = hn::Set(df, scale), vnan = hn::Set(df, nan_to);
  const auto lo = hn::Set(df, -127.0f), hi = hn::Set(df, 127.0f);
  auto sum = hn::Zero(di);
  for (int i = 0; i < n; i += lanes) {
    auto v = hn::Mul(hn::LoadU(df, x + i), vscale);
    v = hn::IfThenElse(hn::Eq(v, v), v, vnan);
    v = hn::Min(hn::Max(RoundHalfAway(v), lo), hi);
    const auto qi = hn::ConvertTo(di, v);
    hn::StoreU(hn::DemoteTo(d8, qi), d8, q + i);
    sum = hn::Add(sum, qi);
  }
  return hn::GetLane(hn::SumOfLanes(di, sum));
}

void RoundActsF16Impl(const float* x, int64_t n, float* out) {
  int64_t i = 0;
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  // F16C's conversion rounds to nearest-even and quiets NaN keeping the top payload bits, as
  // FP32ToFP16 does; other targets take the scalar loop.
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> dh;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::PromoteTo(df, hn::DemoteTo(dh, hn::LoadU(df, x + i))), df, out + i);
#endif
  for (; i < n; ++i) out[i] = FP16ToFP32(FP32ToFP16(x[i]));
}

void QuantizeActsQ8_0Impl(const float* x, int64_t n, int8_t* q, float* d_out, int32_t* xsum) {
  // QuantizeRowQ8_0_ref: d = amax / 127 stored as half; quants from the unrounded 1 / d. Blocks go
  // 16 at a time so that the scales of a batch are divided and rounded to half as one vector.
  constexpr int kBatch = 16;
  const DF df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  HWY_ALIGN float d[kBatch], id[kBatch];
  for (int64_t b0 = 0; b0 < n / kQK8_0; b0 += kBatch) {
    const int nb = static_cast<int>(std::min<int64_t>(kBatch, n / kQK8_0 - b0));
    for (int j = 0; j < nb; ++j) d[j] = AbsMaxNoNaN(x + (b0 + j) * kQK8_0, kQK8_0);
    for (int j = nb; j < kBatch; ++j) d[j] = 0.0f;
    for (int j = 0; j < kBatch; j += lanes) {  // d = amax / 127, id = 1 / d (0 for d = 0): IEEE divisions
      const auto dv = hn::Div(hn::Load(df, d + j), hn::Set(df, 127.0f));
      hn::Store(dv, df, d + j);
      hn::Store(hn::IfThenZeroElse(hn::Eq(dv, hn::Zero(df)), hn::Div(hn::Set(df, 1.0f), dv)), df, id + j);
    }
    RoundActsF16Impl(d, nb, d_out + b0);
    for (int j = 0; j < nb; ++j) {
      const int64_t b = b0 + j;
      const int32_t sum = QuantizeSpan(x + b * kQK8_0, kQK8_0, id[j], 0.0f, q + b * kQK8_0);
      if (xsum != nullptr) xsum[b] = sum;
    }
  }
}

void QuantizeActsQ8_KImpl(const float* x, int64_t n, BlockQ8_K* out) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    // QuantizeRowQ8_K_ref: iscale = 127 / amax, d = amax / 127 (0 and 0 for an all-zero block).
    const float amax = AbsMaxNoNaN(x, kQK_K);
    const float iscale = amax > 0 ? 127.0f / amax : 0.0f;
    out[b].d = amax > 0 ? amax / 127.0f : 0.0f;
    for (int g = 0; g < kQK_K / 16; ++g) {
      const int32_t sum = QuantizeSpan(x + 16 * g, 16, iscale, -127.0f, out[b].qs + 16 * g);
      out[b].bsums[g] = static_cast<int16_t>(sum);
    }
  }
}

void RoundActsBF16Impl(const float* x, int64_t n, float* out) {
  // FP32ToBF16 in integer lanes: bits + 0x7FFF + lsb, high half kept; NaN truncated and quieted.
  const DF df;
  const hn::RebindToSigned<DF> di;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const auto high = hn::Set(di, static_cast<int32_t>(0xFFFF0000u)), one = hn::Set(di, 1);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto bits = hn::BitCast(di, hn::LoadU(df, x + i));
    const auto lsb = hn::And(hn::ShiftRight<16>(bits), one);
    const auto rounded = hn::And(hn::Add(hn::Add(bits, hn::Set(di, 0x7FFF)), lsb), high);
    const auto quiet_nan = hn::And(hn::Or(bits, hn::Set(di, 0x00400000)), high);
    const auto is_nan = hn::Gt(hn::And(bits, hn::Set(di, 0x7FFFFFFF)), hn::Set(di, 0x7F800000));
    hn::StoreU(hn::BitCast(df, hn::IfThenElse(is_nan, quiet_nan, rounded)), df, out + i);
  }
  for (; i < n; ++i) out[i] = BF16ToFP32(FP32ToBF16(x[i]));
}

int64_t QuantizeActsTarget() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace flotilla
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace flotilla {

HWY_EXPORT(QuantizeActsQ8_0Impl);
HWY_EXPORT(QuantizeActsQ8_KImpl);
HWY_EXPORT(QuantizeActsTarget);
HWY_EXPORT(RoundActsF16Impl);
HWY_EXPORT(RoundActsBF16Impl);

void RoundActsF16(const float* x, int64_t n, float* out) { HWY_DYNAMIC_DISPATCH(RoundActsF16Impl)(x, n, out); }

void RoundActsBF16(const float* x, int64_t n, float* out) { HWY_DYNAMIC_DISPATCH(RoundActsBF16Impl)(x, n, out); }

void QuantizeActsQ8_0(const float* x, int64_t n, int8_t* q, float* d, int32_t* xsum) {
  CHECK(n % kQK8_0 == 0);
  HWY_DYNAMIC_DISPATCH(QuantizeActsQ8_0Impl)(x, n, q, d, xsum);
}

void QuantizeActsQ8_K(const float* x, int64_t n, BlockQ8_K* out) {
  CHECK(n % kQK_K == 0);
  HWY_DYNAMIC_DISPATCH(QuantizeActsQ8_KImpl)(x, n, out);
}

const char* QuantizeActsTargetName() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(QuantizeActsTarget)()); }

}  // namespace flotilla
#endif  // HWY_ONCE
