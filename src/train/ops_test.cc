// Each training op's backward against central finite differences, and the GEMM against a naive product.
#include "train/ops.h"

#include <cmath>

#include <gtest/gtest.h>

#include "train/gemm.h"
#include "train/grad_check.h"

namespace flotilla::train {
namespace {

using testutil::CheckGradient;
using testutil::Project;
using testutil::RandomVector;

TEST(GemmTest, MatchesNaiveProduct) {
  ThreadPool pool(2);
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 33, 5}, {13, 70, 300},
                         {50, 64, 513}, {6, 32, 16}, {100, 97, 40}}) {
    std::vector<float> a = RandomVector(m * k, 1), b = RandomVector(k * n, 2), c0 = RandomVector(m * n, 3);
    for (bool accumulate : {false, true}) {
      std::vector<float> c = c0;
      Gemm(pool, m, n, k, a.data(), k, b.data(), n, c.data(), n, accumulate);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          double want = accumulate ? c0[i * n + j] : 0.0;
          for (int64_t p = 0; p < k; ++p) want += static_cast<double>(a[i * k + p]) * b[p * n + j];
          ASSERT_NEAR(c[i * n + j], want, 1e-4 * std::sqrt(static_cast<double>(k)))
              << m << "x" << n << "x" << k << " at " << i << "," << j;
        }
      }
    }
  }
}

TEST(OpsGradTest, Linear) {
  ThreadPool pool(2);
  const int64_t n = 5, in = 7, out = 9;
  std::vector<float> x = RandomVector(n * in, 1), w = RandomVector(out * in, 2), r = RandomVector(n * out, 3);
  std::vector<float> y(n * out), scratch;
  auto loss = [&] {
    LinearForward(pool, x.data(), w.data(), n, in, out, y.data(), scratch);
    return Project(y, r);
  };
  std::vector<float> dx(n * in), dw(out * in, 0.0f);
  LinearBackwardX(pool, r.data(), w.data(), n, in, out, dx.data(), false);
  LinearBackwardW(pool, r.data(), x.data(), n, in, out, dw.data(), scratch);
  CheckGradient("dx", x.data(), x.size(), dx.data(), loss);
  CheckGradient("dw", w.data(), w.size(), dw.data(), loss);
}

TEST(OpsGradTest, RmsNorm) {
  const int64_t n = 3, d = 16;
  std::vector<float> x = RandomVector(n * d, 1), w = RandomVector(d, 2), r = RandomVector(n * d, 3);
  std::vector<float> y(n * d), rstd(n);
  auto loss = [&] {
    RmsNormForward(x.data(), w.data(), n, d, 1e-5f, y.data(), rstd.data());
    return Project(y, r);
  };
  loss();
  std::vector<float> dx(n * d), dw(d, 0.0f);
  RmsNormBackward(r.data(), x.data(), w.data(), rstd.data(), n, d, dx.data(), dw.data(), false);
  CheckGradient("dx", x.data(), x.size(), dx.data(), loss);
  CheckGradient("dw", w.data(), w.size(), dw.data(), loss);
}

TEST(OpsTest, RopeMatchesInferenceKernelAndInverts) {
  const int32_t heads = 3, hd = 8, seq = 6;
  const std::vector<float> factors = {1.0f, 2.0f, 4.0f, 8.0f};
  for (RopeMode mode : {RopeMode::kNorm, RopeMode::kNeox}) {
    for (const float* ff : {static_cast<const float*>(nullptr), factors.data()}) {
      const RopeParams p{mode, hd, 10000.0f, ff};
      RopeTable table = MakeRopeTable(p, hd, seq);
      std::vector<float> x = RandomVector(2 * seq * heads * hd, 1), y = x;
      RopeApply(table, y.data(), 2, seq, heads, hd, false);
      for (int64_t row = 0; row < 2 * seq; ++row) {
        std::vector<float> want(x.begin() + row * heads * hd, x.begin() + (row + 1) * heads * hd);
        Rope(want.data(), heads, hd, row % seq, p);
        for (int32_t j = 0; j < heads * hd; ++j) ASSERT_FLOAT_EQ(y[row * heads * hd + j], want[j]);
      }
      // The backward (transposed rotation) undoes the forward: R is orthogonal.
      RopeApply(table, y.data(), 2, seq, heads, hd, true);
      for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(y[i], x[i], 1e-5);
    }
  }
}

TEST(OpsGradTest, Rope) {
  const int32_t heads = 2, hd = 8, seq = 4;
  for (RopeMode mode : {RopeMode::kNorm, RopeMode::kNeox}) {
    RopeTable table = MakeRopeTable({mode, hd, 10000.0f, nullptr}, hd, seq);
    std::vector<float> x = RandomVector(seq * heads * hd, 1), r = RandomVector(x.size(), 2), y;
    auto loss = [&] {
      y = x;
      RopeApply(table, y.data(), 1, seq, heads, hd, false);
      return Project(y, r);
    };
    std::vector<float> dx = r;
    RopeApply(table, dx.data(), 1, seq, heads, hd, true);
    CheckGradient("dx", x.data(), x.size(), dx.data(), loss);
  }
}

TEST(OpsGradTest, CausalGqaAttention) {
  ThreadPool pool(2);
  const AttnShape s{2, 5, 4, 2, 4};  // batch, seq, heads, kv heads, head_dim
  const int64_t n = s.batch * s.seq, wq = s.n_head * s.head_dim, wkv = s.n_head_kv * s.head_dim;
  std::vector<float> q = RandomVector(n * wq, 1), k = RandomVector(n * wkv, 2), v = RandomVector(n * wkv, 3);
  std::vector<float> r = RandomVector(n * wq, 4), probs(s.batch * s.n_head * s.seq * s.seq), out(n * wq);
  auto loss = [&] {
    AttentionForward(pool, s, q.data(), k.data(), v.data(), probs.data(), out.data());
    return Project(out, r);
  };
  loss();
  // Causal: the first token of each sequence sees only itself.
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int32_t d = 0; d < s.head_dim; ++d) EXPECT_FLOAT_EQ(out[b * s.seq * wq + d], v[b * s.seq * wkv + d]);
  }
  std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
  AttentionBackward(pool, s, q.data(), k.data(), v.data(), probs.data(), r.data(), dq.data(), dk.data(), dv.data());
  CheckGradient("dq", q.data(), q.size(), dq.data(), loss, {}, 200);
  CheckGradient("dk", k.data(), k.size(), dk.data(), loss, {}, 200);
  CheckGradient("dv", v.data(), v.size(), dv.data(), loss, {}, 200);
}

TEST(OpsGradTest, SwiGlu) {
  const int64_t n = 40;
  std::vector<float> g = RandomVector(n, 1, 2.0f), u = RandomVector(n, 2), r = RandomVector(n, 3), h(n);
  auto loss = [&] {
    SwiGluForward(g.data(), u.data(), n, h.data());
    return Project(h, r);
  };
  std::vector<float> dg(n), du(n);
  SwiGluBackward(r.data(), g.data(), u.data(), n, dg.data(), du.data());
  CheckGradient("dgate", g.data(), n, dg.data(), loss);
  CheckGradient("dup", u.data(), n, du.data(), loss);
}

TEST(OpsGradTest, CrossEntropyWithIgnoredTargets) {
  ThreadPool pool(2);
  const int64_t n = 4, nv = 11;
  std::vector<float> z = RandomVector(n * nv, 1, 3.0f);
  const int32_t targets[n] = {3, -1, 0, 10};
  auto loss = [&] { return CrossEntropy(pool, z.data(), targets, n, nv, 1.0f, nullptr); };
  std::vector<float> dz(n * nv);
  const double l = CrossEntropy(pool, z.data(), targets, n, nv, 1.0f, dz.data());
  EXPECT_DOUBLE_EQ(l, loss());
  for (int64_t j = 0; j < nv; ++j) EXPECT_EQ(dz[1 * nv + j], 0.0f);
  CheckGradient("dlogits", z.data(), z.size(), dz.data(), loss);
}

}  // namespace
}  // namespace flotilla::train
