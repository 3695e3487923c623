// Highway versions of the row operations declared in ops.h (the *Simd functions).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <hwy/contrib/math/math-inl.h>

#include <cmath>

#include "kernels/ops.h"
#include "tensor/fp16.h"

HWY_BEFORE_NAMESPACE();
namespace flotilla {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sums in double, as the scalar versions (and ggml) do: floats are widened a double vector at a time.
using DD = hn::ScalableTag<double>;
using DF8 = hn::Rebind<float, DD>;  // as many floats as DD has doubles

// sum_i x[i]^2 in double.
HWY_INLINE double SumSquares(const float* x, int64_t n) {
  const DF8 df;
  const DD dd;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  auto a0 = hn::Zero(dd), a1 = hn::Zero(dd);
  int64_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    const auto v0 = hn::PromoteTo(dd, hn::LoadU(df, x + i));
    const auto v1 = hn::PromoteTo(dd, hn::LoadU(df, x + i + lanes));
    a0 = hn::MulAdd(v0, v0, a0);
    a1 = hn::MulAdd(v1, v1, a1);
  }
  double sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(a0, a1)));
  for (; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

void AddRmsNormImpl(float* x, const float* add, const float* weight, int64_t n, float eps, float* out) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t main = n / lanes * lanes;
  if (add != nullptr) {
    for (int64_t i = 0; i < main; i += lanes) {
      hn::StoreU(hn::Add(hn::LoadU(df, x + i), hn::LoadU(df, add + i)), df, x + i);
    }
    for (int64_t i = main; i < n; ++i) x[i] += add[i];
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(SumSquares(x, n) / n) + eps);
  const auto vscale = hn::Set(df, scale);
  // (x * scale) * weight, in the scalar version's order.
  for (int64_t i = 0; i < main; i += lanes) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, x + i), vscale), hn::LoadU(df, weight + i)), df, out + i);
  }
  for (int64_t i = main; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

// silu(g) * u = g * sigmoid(g) * u with sigmoid from e = exp(-|g|) (no overflow for any g).
template <class D>
HWY_INLINE hn::Vec<D> SiluTimes(D df, hn::Vec<D> g, hn::Vec<D> u) {
  const auto one = hn::Set(df, 1.0f);
  const auto e = hn::Exp(df, hn::Neg(hn::Abs(g)));
  const auto num = hn::IfThenElse(hn::Lt(g, hn::Zero(df)), e, one);
  return hn::Mul(hn::Mul(g, hn::Div(num, hn::Add(one, e))), u);
}

void SwiGluImpl(const float* gate, const float* up, int64_t n, float* out) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(SiluTimes(df, hn::LoadU(df, gate + i), hn::LoadU(df, up + i)), df, out + i);
  }
  if (i < n) {  // the tail through a padded vector, so every element takes the same formula
    const size_t rest = static_cast<size_t>(n - i);
    HWY_ALIGN float g[hn::MaxLanes(df)] = {}, u[hn::MaxLanes(df)] = {};
    for (size_t j = 0; j < rest; ++j) {
      g[j] = gate[i + static_cast<int64_t>(j)];
      u[j] = up[i + static_cast<int64_t>(j)];
    }
    hn::Store(SiluTimes(df, hn::Load(df, g), hn::Load(df, u)), df, g);
    for (size_t j = 0; j < rest; ++j) out[i + static_cast<int64_t>(j)] = g[j];
  }
}

void SoftmaxImpl(float* x, int64_t n) {
  if (n <= 0) return;
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t main = n / lanes * lanes;
  float max = -INFINITY;
  if (main > 0) {
    auto m = hn::Set(df, -INFINITY);
    for (int64_t i = 0; i < main; i += lanes) m = hn::Max(m, hn::LoadU(df, x + i));
    max = hn::GetLane(hn::MaxOfLanes(df, m));
  }
  for (int64_t i = main; i < n; ++i) max = x[i] > max ? x[i] : max;
  const auto vmax = hn::Set(df, max);
  for (int64_t i = 0; i < main; i += lanes) {
    hn::StoreU(hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmax)), df, x + i);
  }
  if (main < n) {
    HWY_ALIGN float t[hn::MaxLanes(df)];
    for (int64_t j = 0; j < lanes; ++j) t[j] = main + j < n ? x[main + j] : max;
    hn::Store(hn::Exp(df, hn::Sub(hn::Load(df, t), vmax)), df, t);
    for (int64_t j = 0; main + j < n; ++j) x[main + j] = t[j];
  }
  // Sum in double, then scale.
  const DF8 df8;
  const DD dd;
  const int64_t lanes8 = static_cast<int64_t>(hn::Lanes(df8));
  auto acc = hn::Zero(dd);
  int64_t i = 0;
  for (; i + lanes8 <= n; i += lanes8) acc = hn::Add(acc, hn::PromoteTo(dd, hn::LoadU(df8, x + i)));
  double sum = hn::GetLane(hn::SumOfLanes(dd, acc));
  for (; i < n; ++i) sum += x[i];
  const float inv = static_cast<float>(1.0 / sum);
  const auto vinv = hn::Set(df, inv);
  for (i = 0; i < main; i += lanes) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vinv), df, x + i);
  for (i = main; i < n; ++i) x[i] *= inv;
}

void AddInPlaceImpl(float* x, const float* y, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::Add(hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, x + i);
  for (; i < n; ++i) x[i] += y[i];
}

void ConvertToF16Impl(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2  // F16C: nearest-even, subnormals kept, NaN quieted as FP32ToFP16
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::DemoteTo(dh, hn::LoadU(df, x + i)), dh, reinterpret_cast<hwy::float16_t*>(out + i));
  }
#endif
  for (; i < n; ++i) out[i] = FP32ToFP16(x[i]);
}

}  // namespace HWY_NAMESPACE
}  // namespace flotilla
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace flotilla {

HWY_EXPORT(AddRmsNormImpl);
HWY_EXPORT(SwiGluImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(AddInPlaceImpl);
HWY_EXPORT(ConvertToF16Impl);

void AddRmsNormSimd(float* x, const float* add, const float* weight, int64_t n, float eps, float* out) {
  HWY_DYNAMIC_DISPATCH(AddRmsNormImpl)(x, add, weight, n, eps, out);
}

void SwiGluSimd(const float* gate, const float* up, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(SwiGluImpl)(gate, up, n, out);
}

void SoftmaxSimd(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxImpl)(x, n); }

void AddInPlaceSimd(float* x, const float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(AddInPlaceImpl)(x, y, n); }

void ConvertToF16Simd(const float* x, int64_t n, uint16_t* out) { HWY_DYNAMIC_DISPATCH(ConvertToF16Impl)(x, n, out); }

}  // namespace flotilla
#endif  // HWY_ONCE
