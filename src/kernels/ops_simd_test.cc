// The SIMD row operations (ops.h, *Simd) against the scalar versions on random inputs of odd sizes,
// on every instruction set this binary was compiled for and the machine supports; and the split
// Rope (angles once, applied per head) equals Rope bit for bit.
#include <cmath>
#include <iterator>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "kernels/ops.h"
#include "tensor/fp16.h"

namespace flotilla {
namespace {

std::vector<float> Random(int64_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

// Relative closeness: |a - b| <= tol * max(1, |b|) for each element.
void ExpectClose(const std::vector<float>& a, const std::vector<float>& b, float tol, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_LE(std::fabs(a[i] - b[i]), tol * std::max(1.0f, std::fabs(b[i]))) << what << " at " << i;
  }
}

template <typename Check>
void ForEachTarget(Check check) {
  int tested = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    check();
    ++tested;
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GE(tested, 1);
}

const int64_t kSizes[] = {1, 3, 7, 8, 16, 17, 31, 64, 100, 768, 1001};

TEST(OpsSimd, AddRmsNormMatchesScalar) {
  ForEachTarget([] {
    for (int64_t n : kSizes) {
      std::vector<float> x = Random(n, 2.0f, 1), add = Random(n, 0.5f, 2), w = Random(n, 1.0f, 3);
      // Scalar: x += add, then RmsNorm.
      std::vector<float> x_ref = x, out_ref(x.size()), out(x.size());
      for (int64_t i = 0; i < n; ++i) x_ref[i] += add[i];
      RmsNorm(x_ref.data(), w.data(), n, 1e-5f, out_ref.data());
      AddRmsNormSimd(x.data(), add.data(), w.data(), n, 1e-5f, out.data());
      EXPECT_EQ(x, x_ref) << n;  // the add is exact
      ExpectClose(out, out_ref, 1e-6f, "AddRmsNorm");
      // Without the add.
      std::vector<float> x2 = x;
      AddRmsNormSimd(x2.data(), nullptr, w.data(), n, 1e-5f, out.data());
      EXPECT_EQ(x2, x);
      ExpectClose(out, out_ref, 1e-6f, "RmsNorm");
    }
  });
}

TEST(OpsSimd, SwiGluMatchesScalar) {
  ForEachTarget([] {
    for (int64_t n : kSizes) {
      std::vector<float> g = Random(n, 4.0f, 4), u = Random(n, 1.0f, 5);
      if (n > 5) {  // saturated and extreme gates
        g[0] = 120.0f;
        g[1] = -120.0f;
        g[2] = 0.0f;
        g[3] = -1e30f;
        g[4] = 88.0f;
      }
      std::vector<float> ref(g.size()), out(g.size());
      SwiGlu(g.data(), u.data(), n, ref.data());
      SwiGluSimd(g.data(), u.data(), n, out.data());
      ExpectClose(out, ref, 1e-6f, "SwiGlu");
      std::vector<float> in_place = g;  // out aliasing gate
      SwiGluSimd(in_place.data(), u.data(), n, in_place.data());
      EXPECT_EQ(in_place, out);
    }
  });
}

TEST(OpsSimd, SoftmaxMatchesScalar) {
  ForEachTarget([] {
    for (int64_t n : kSizes) {
      std::vector<float> x = Random(n, 5.0f, 6);
      if (n > 2) x[1] = -200.0f;  // underflows to 0
      std::vector<float> ref = x, out = x;
      Softmax(ref.data(), n);
      SoftmaxSimd(out.data(), n);
      ExpectClose(out, ref, 1e-6f, "Softmax");
      double sum = 0;
      for (float v : out) sum += v;
      EXPECT_NEAR(sum, 1.0, 1e-5) << n;
    }
  });
}

TEST(OpsSimd, AddInPlaceIsExact) {
  ForEachTarget([] {
    for (int64_t n : kSizes) {
      std::vector<float> x = Random(n, 1.0f, 7), y = Random(n, 1.0f, 8), ref = x;
      AddInPlace(ref.data(), y.data(), n);
      AddInPlaceSimd(x.data(), y.data(), n);
      EXPECT_EQ(x, ref) << n;
    }
  });
}

TEST(OpsSimd, ConvertToF16IsBitExact) {
  std::vector<float> x = Random(1000, 3.0f, 10);
  for (int i = 0; i < 100; ++i) x[i] *= 1e-6f;  // half subnormals
  const float specials[] = {0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, -70000.0f, 1e-8f, 5.96e-8f, 2.98e-8f,
                            1.0f + 0x1p-11f, 1.0f + 0x1p-11f + 0x1p-23f, 1.0f + 3 * 0x1p-11f,
                            std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::signaling_NaN()};
  for (size_t i = 0; i < std::size(specials); ++i) x[200 + i * 3] = specials[i];
  std::vector<uint16_t> ref(x.size());
  for (size_t i = 0; i < x.size(); ++i) ref[i] = FP32ToFP16(x[i]);
  ForEachTarget([&] {
    for (int64_t n : {int64_t{1}, int64_t{15}, int64_t{17}, int64_t{1000}}) {
      std::vector<uint16_t> out(static_cast<size_t>(n), 0xDEAD);
      ConvertToF16Simd(x.data(), n, out.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], ref[i]) << "x = " << x[i] << " at " << i;
    }
  });
}

TEST(OpsSimd, RopeAnglesOnceEqualsRope) {
  const float factors[16] = {1, 1.5f, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  for (RopeMode mode : {RopeMode::kNorm, RopeMode::kNeox}) {
    for (const float* ff : {static_cast<const float*>(nullptr), factors}) {
      const RopeParams p{mode, 0, 10000.0f, ff};
      std::vector<float> x = Random(3 * 32, 1.0f, 9), y = x;
      std::vector<float> cs(32);
      for (int64_t pos : {0, 1, 17, 1000}) {
        Rope(x.data(), 3, 32, pos, p);
        RopeAngles(32, pos, p, cs.data());
        RopeWithAngles(y.data(), 3, 32, cs.data(), p);
        EXPECT_EQ(x, y) << pos;
      }
    }
  }
}

}  // namespace
}  // namespace flotilla
