// Highway versions of the attention loops declared in attention.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/attention.h"
#include "tensor/fp16.h"

HWY_BEFORE_NAMESPACE();
namespace flotilla {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D>
HWY_INLINE hn::Vec<D> LoadRow(D d, const void* base, int64_t i, bool f16) {
  if (f16) {
    const hn::Rebind<hwy::float16_t, D> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, static_cast<const hwy::float16_t*>(base) + i));
  }
  return hn::LoadU(d, static_cast<const float*>(base) + i);
}

HWY_INLINE float Elem(const void* base, int64_t i, bool f16) {
  return f16 ? FP16ToFP32(static_cast<const uint16_t*>(base)[i]) : static_cast<const float*>(base)[i];
}

void AttnScoresImpl(const float* q, const void* k, int64_t stride, int32_t n_keys, int32_t head_dim, float scale,
                    bool f16, float* scores) {
  const hn::ScalableTag<float> df;
  const int32_t N = static_cast<int32_t>(hn::Lanes(df));
  const int32_t main = head_dim / N * N;
  for (int32_t p = 0; p < n_keys; ++p) {
    const int64_t row = static_cast<int64_t>(p) * stride;
    auto acc = hn::Zero(df);
    for (int32_t i = 0; i < main; i += N) acc = hn::MulAdd(hn::LoadU(df, q + i), LoadRow(df, k, row + i, f16), acc);
    float s = hn::GetLane(hn::SumOfLanes(df, acc));
    for (int32_t i = main; i < head_dim; ++i) s += q[i] * Elem(k, row + i, f16);
    scores[p] = s * scale;
  }
}

void AttnWeightedSumImpl(const float* w, const void* v, int64_t stride, int32_t n_keys, int32_t head_dim, bool f16,
                         float* out) {
  const hn::ScalableTag<float> df;
  const int32_t N = static_cast<int32_t>(hn::Lanes(df));
  const int32_t main = head_dim / N * N;
  for (int32_t i = 0; i < head_dim; ++i) out[i] = 0.0f;
  for (int32_t i = 0; i < main; i += N) {  // one output chunk at a time, all keys
    auto acc = hn::Zero(df);
    for (int32_t p = 0; p < n_keys; ++p) {
      acc = hn::MulAdd(hn::Set(df, w[p]), LoadRow(df, v, static_cast<int64_t>(p) * stride + i, f16), acc);
    }
    hn::StoreU(acc, df, out + i);
  }
  for (int32_t i = main; i < head_dim; ++i) {
    float s = 0.0f;
    for (int32_t p = 0; p < n_keys; ++p) s += w[p] * Elem(v, static_cast<int64_t>(p) * stride + i, f16);
    out[i] = s;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace flotilla
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace flotilla {

HWY_EXPORT(AttnScoresImpl);
HWY_EXPORT(AttnWeightedSumImpl);

void AttnScores(const float* q, const void* k, int64_t stride, int32_t n_keys, int32_t head_dim, float scale,
                bool f16, float* scores) {
  HWY_DYNAMIC_DISPATCH(AttnScoresImpl)(q, k, stride, n_keys, head_dim, scale, f16, scores);
}

void AttnWeightedSum(const float* w, const void* v, int64_t stride, int32_t n_keys, int32_t head_dim, bool f16,
                     float* out) {
  HWY_DYNAMIC_DISPATCH(AttnWeightedSumImpl)(w, v, stride, n_keys, head_dim, f16, out);
}

}  // namespace flotilla
#endif  // HWY_ONCE
