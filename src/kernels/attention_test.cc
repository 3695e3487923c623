// AttnHead (SIMD) against AttnHead_ref on random caches: F16 and F32, head sizes that take each
// vector width and the scalar path, blocks of 1 to 9 rows and 1 to 7 query heads per key head (tiles
// of 4 queries, their remainders, tiles that span two rows), short and long key spans (in one key
// tile and across three), on every instruction set this binary was compiled for and the machine
// supports.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "kernels/attention.h"
#include "tensor/fp16.h"

namespace flotilla {
namespace {

struct Problem {
  std::vector<float> q, out_ref;
  std::vector<uint8_t> kt, v;
  AttnHeadArgs args;
};

Problem Make(bool f16, int32_t head_dim, int32_t n_rows, int32_t n_keys0, uint32_t seed, int32_t n_heads = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Problem p;
  const int32_t n_keys = n_keys0 + n_rows - 1;
  const int64_t tiles = (n_keys + kAttnKeyTile - 1) / kAttnKeyTile;
  const int64_t tile_stride = head_dim * kAttnKeyTile + 37;  // any larger stride
  const int64_t q_stride = n_heads * head_dim + 5, v_stride = head_dim + 2;
  const size_t elem = f16 ? 2 : 4;
  p.q.resize(static_cast<size_t>(n_rows * q_stride));
  for (float& x : p.q) x = normal(rng);
  p.kt.assign(static_cast<size_t>(tiles * tile_stride) * elem, 0xFF);  // NaN where no key is written
  p.v.assign(static_cast<size_t>(n_keys * v_stride) * elem, 0);
  auto put = [&](std::vector<uint8_t>& buf, int64_t i, float x) {
    if (f16) {
      reinterpret_cast<uint16_t*>(buf.data())[i] = FP32ToFP16(x);
    } else {
      reinterpret_cast<float*>(buf.data())[i] = x;
    }
  };
  for (int32_t d = 0; d < head_dim; ++d) {
    for (int32_t k = 0; k < n_keys; ++k) put(p.kt, KeyTileIndex(k, d, tile_stride), normal(rng));
  }
  for (int32_t k = 0; k < n_keys; ++k) {
    for (int32_t d = 0; d < head_dim; ++d) put(p.v, k * v_stride + d, normal(rng));
  }
  p.out_ref.assign(static_cast<size_t>(n_rows * n_heads * head_dim), NAN);
  p.args = {.q = p.q.data(), .q_stride = q_stride, .kt = p.kt.data(), .kt_tile_stride = tile_stride,
            .v = p.v.data(), .v_stride = v_stride, .n_rows = n_rows, .n_keys0 = n_keys0, .head_dim = head_dim,
            .n_heads = n_heads, .scale = 1.0f / std::sqrt(static_cast<float>(head_dim)), .f16 = f16,
            .out = p.out_ref.data(), .out_stride = n_heads * head_dim};
  AttnHead_ref(p.args);
  return p;
}

TEST(Attention, SimdMatchesReferenceOnEveryTarget) {
  int tested = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    uint32_t seed = 1;
    for (bool f16 : {false, true}) {
      for (int32_t head_dim : {64, 128, 8, 48, 12, 5}) {
        for (int32_t n_rows : {1, 3, 4, 9}) {
          for (int32_t n_keys0 : {1, 7, 130}) {
            for (int32_t n_heads : {1, 2, 7}) {
              Problem p = Make(f16, head_dim, n_rows, n_keys0, seed++, n_heads);
              std::vector<float> out(p.out_ref.size(), NAN);
              std::vector<float> scratch(static_cast<size_t>(AttnHeadScratch(n_rows, n_keys0, head_dim, n_heads)), NAN);
              AttnHeadArgs a = p.args;
              a.out = out.data();
              AttnHead(a, scratch.data());
              for (size_t i = 0; i < out.size(); ++i) {
                // Outputs are weighted means of N(0,1) values; only summation order differs (and, with
                // F16, a weight may round the other way after a reordered sum).
                ASSERT_NEAR(out[i], p.out_ref[i], f16 ? 2e-3f : 2e-5f)
                    << hwy::TargetName(target) << " f16=" << f16 << " head_dim=" << head_dim << " rows=" << n_rows
                    << " keys0=" << n_keys0 << " heads=" << n_heads << " at " << i;
              }
            }
          }
        }
      }
    }
    ++tested;
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GE(tested, 1);
}

// One key: the softmax weight is 1 and the output is that key's value row (F16 rounding aside).
TEST(Attention, SingleKeyReturnsItsValue) {
  Problem p = Make(false, 16, 1, 1, 99);
  std::vector<float> out(16), scratch(static_cast<size_t>(AttnHeadScratch(1, 1, 16)));
  AttnHeadArgs a = p.args;
  a.out = out.data();
  AttnHead(a, scratch.data());
  const float* v = reinterpret_cast<const float*>(p.v.data());
  for (int d = 0; d < 16; ++d) EXPECT_FLOAT_EQ(out[d], v[d]);
}

}  // namespace
}  // namespace flotilla
