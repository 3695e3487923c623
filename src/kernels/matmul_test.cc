// SIMD MatMul kernels against MatMul_ref on random inputs with odd sizes, on every instruction set
// this binary was compiled for and the machine supports.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <random>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/repack.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"
#include "tensor/traits.h"

namespace flotilla {
namespace {

struct Shape {
  int64_t n_in, n_out, n_tokens;
};

// Quantized weights and float activations of the given shape; y_ref from the reference kernel.
struct Problem {
  std::vector<uint8_t> w_bytes;
  TensorView w;
  std::vector<float> x, y_ref, bound;  // bound[t, r] = sum_k |w| |x|: the scale of rounding error
};

Problem MakeProblem(DType dtype, const Shape& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> wf(s.n_in * s.n_out);
  for (float& v : wf) v = normal(rng) * 0.05f;
  Problem p;
  p.x.resize(s.n_in * s.n_tokens);
  for (float& v : p.x) v = normal(rng);
  StatusOr<std::vector<uint8_t>> q = QuantizeTensor(dtype, wf.data(), s.n_out, s.n_in);
  EXPECT_TRUE(q.ok());
  p.w_bytes = std::move(*q);
  p.w.dtype = dtype;
  p.w.ne[0] = s.n_in;
  p.w.ne[1] = s.n_out;
  p.w.data = p.w_bytes.data();
  ThreadPool pool(1);
  p.y_ref.resize(s.n_out * s.n_tokens);
  MatMul_ref(pool, p.w, p.x.data(), s.n_tokens, p.y_ref.data());
  p.bound.assign(p.y_ref.size(), 0.0f);
  for (int64_t t = 0; t < s.n_tokens; ++t) {
    for (int64_t r = 0; r < s.n_out; ++r) {
      double b = 0;
      for (int64_t k = 0; k < s.n_in; ++k) b += std::fabs(wf[r * s.n_in + k] * p.x[t * s.n_in + k]);
      p.bound[t * s.n_out + r] = static_cast<float>(b);
    }
  }
  return p;
}

void ExpectClose(const Problem& p, const std::vector<float>& y, const char* what) {
  for (size_t i = 0; i < y.size(); ++i) {
    // Integer sums are exact in both; only float accumulation order differs.
    ASSERT_NEAR(y[i], p.y_ref[i], 2e-5f * p.bound[i] + 1e-6f) << what << " at " << i;
  }
}

// Products of p.w in one MatMulPacked region on 3 threads (rows split between them, in slices that
// hold a share of each product): two of equal size, then p.w beside its first rows only.
void ExpectPackedClose(const Problem& p, const PackedActs& acts) {
  ThreadPool pool(3);
  std::vector<float> y1(p.y_ref.size(), NAN), y2(p.y_ref.size(), NAN);
  const MatMulOut outs[2] = {{&p.w, y1.data()}, {&p.w, y2.data()}};
  MatMulPacked(pool, outs, acts);
  ExpectClose(p, y1, "MatMulPacked first");
  ExpectClose(p, y2, "MatMulPacked second");

  const int64_t n_out = p.w.n_rows(), n_head = std::max<int64_t>(n_out / 2, 1), n_tokens = acts.n_tokens;
  TensorView head = p.w;  // rows [0, n_head) of p.w
  head.ne[1] = n_head;
  std::vector<float> y_head(static_cast<size_t>(n_tokens * n_head), NAN);
  std::fill(y1.begin(), y1.end(), NAN);
  const MatMulOut mixed[2] = {{&p.w, y1.data()}, {&head, y_head.data()}};
  MatMulPacked(pool, mixed, acts);
  ExpectClose(p, y1, "MatMulPacked with a smaller product");
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < n_head; ++r) {
      ASSERT_NEAR(y_head[t * n_head + r], p.y_ref[t * n_out + r], 2e-5f * p.bound[t * n_out + r] + 1e-6f)
          << "MatMulPacked smaller product at token " << t << " row " << r;
    }
  }
}

class MatMulSimd : public ::testing::TestWithParam<DType> {};

TEST_P(MatMulSimd, MatchesReferenceOnEveryTarget) {
  const DType dtype = GetParam();
  const int64_t block = GetDTypeInfo(dtype).block_size;
  std::vector<Shape> shapes;
  if (block == 1) {
    shapes = {{1, 1, 1}, {7, 3, 2}, {37, 13, 5}, {133, 9, 7}, {515, 5, 4}, {64, 17, 9}};
  } else {
    shapes = {{block, 1, 1}, {block, 13, 5}, {3 * block, 11, 7}, {5 * block, 3, 4}, {2 * block, 7, 9}};
  }
  int tested = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ASSERT_STREQ(MatMulSimdTargetName(), hwy::TargetName(target));
    for (size_t si = 0; si < shapes.size(); ++si) {
      const Shape& s = shapes[si];
      Problem p = MakeProblem(dtype, s, 1234 + static_cast<uint32_t>(si));
      PackedActs acts;
      PackActivations(dtype, p.x.data(), s.n_tokens, s.n_in, &acts);
      std::vector<float> y(p.y_ref.size(), NAN);
      MatMulRows(p.w, acts, y.data(), 0, s.n_out);
      ExpectClose(p, y, hwy::TargetName(target));
      ExpectPackedClose(p, acts);
    }
    ++tested;
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GE(tested, 1);
  std::printf("%s: %d instruction sets tested\n", std::string(DTypeName(dtype)).c_str(), tested);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MatMulSimd,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                                           DType::kQ4_K, DType::kQ6_K),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

// Q8_0 weights at the ends of their range (-128, which the quantizer never writes but a file may hold,
// and 127) against activations that quantize to +-127 with the signs that make every product the
// largest: the pairs that AVX2 sums in int16 reach 2 * 128 * 127 and must not saturate, and -128
// times a negative activation must not wrap. On the file layout and on the interleaved copy (two
// groups and 5 rows), for 6 tokens together (tiles) and each token alone (decode).
TEST(MatMulSimd, ExtremeQ8_0ProductsMatchReferenceOnEveryTarget) {
  const int64_t n_in = 3 * kQK8_0, n_out = 37, n_tokens = 6;
  std::vector<BlockQ8_0> blocks(static_cast<size_t>(n_out * n_in / kQK8_0));
  for (size_t b = 0; b < blocks.size(); ++b) {
    blocks[b].d = FP32ToFP16(0.01f * static_cast<float>(b % 7 + 1));
    for (int j = 0; j < kQK8_0; ++j) blocks[b].qs[j] = static_cast<int8_t>((j + static_cast<int>(b)) % 3 == 0 ? 127 : -128);
  }
  TensorView w;
  w.dtype = DType::kQ8_0;
  w.ne[0] = n_in;
  w.ne[1] = n_out;
  w.data = reinterpret_cast<const uint8_t*>(blocks.data());
  std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t k = 0; k < n_in; ++k) {  // the sign of row 0's weight (or its opposite for odd tokens)
      const float sign = blocks[k / kQK8_0].qs[k % kQK8_0] > 0 ? 1.0f : -1.0f;
      x[t * n_in + k] = (t % 2 == 1 ? -sign : sign) * (1.0f + 0.5f * static_cast<float>(t));
    }
  }
  ThreadPool pool(1);
  std::vector<float> y_ref(static_cast<size_t>(n_out * n_tokens));
  MatMul_ref(pool, w, x.data(), n_tokens, y_ref.data());
  ASSERT_GT(std::fabs(y_ref[0]), 1.0f);
  std::vector<uint8_t> rows16(InterleavedBytes(w));
  ASSERT_GT(rows16.size(), 0u);
  InterleaveRows(w, rows16.data());
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const uint8_t* copy : {static_cast<const uint8_t*>(nullptr), static_cast<const uint8_t*>(rows16.data())}) {
      w.rows16 = copy;
      const std::string where = std::string(hwy::TargetName(target)) + (copy ? " interleaved" : " file layout");
      PackedActs acts;
      PackActivations(DType::kQ8_0, x.data(), n_tokens, n_in, &acts);
      std::vector<float> y(y_ref.size(), NAN);
      MatMulRows(w, acts, y.data(), 0, n_out);
      for (int64_t t = 0; t < n_tokens; ++t) {
        PackedActs one;
        PackActivations(DType::kQ8_0, x.data() + t * n_in, 1, n_in, &one);
        std::vector<float> y1(static_cast<size_t>(n_out), NAN);
        MatMulRows(w, one, y1.data(), 0, n_out);
        for (int64_t r = 0; r < n_out; ++r) {
          const float want = y_ref[t * n_out + r], tol = 1e-5f * std::fabs(want) + 1e-5f;
          ASSERT_NEAR(y[t * n_out + r], want, tol) << where << " token " << t << " row " << r;
          ASSERT_NEAR(y1[r], want, tol) << where << " alone, token " << t << " row " << r;
        }
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// Weights with an interleaved copy (kernels/repack.h): whole 16-row groups come from the copy where the
// target has kernels for it, partial groups and other targets from the file layout; splits that cut
// a group in the middle must still be right.
class MatMulInterleaved : public ::testing::TestWithParam<DType> {};

TEST_P(MatMulInterleaved, MatchesReferenceOnEveryTarget) {
  const DType dtype = GetParam();
  const int64_t block = GetDTypeInfo(dtype).block_size;
  std::vector<Shape> shapes = {{block, 16, 1}, {3 * block, 48, 1}, {2 * block, 48, 8}, {3 * block, 37, 13},
                               {5 * block, 35, 17}};  // 48 x 1: a pair of groups and one alone
  // floats: one token takes 4 groups side by side, then 2, then 1 (7 groups)
  if (block == 1) shapes.insert(shapes.end(), {{1, 16, 2}, {7, 32, 9}, {133, 19, 4}, {768, 64, 3}, {770, 112, 1}});
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (size_t si = 0; si < shapes.size(); ++si) {
      const Shape& s = shapes[si];
      Problem p = MakeProblem(dtype, s, 99 + static_cast<uint32_t>(si));
      const size_t bytes = InterleavedBytes(p.w);
      ASSERT_EQ(bytes, static_cast<size_t>(s.n_out / 16) * InterleavedGroupBytes(dtype, s.n_in));
      ASSERT_GT(bytes, 0u);
      std::vector<uint8_t> rows16(bytes);
      InterleaveRows(p.w, rows16.data());
      p.w.rows16 = rows16.data();
      PackedActs acts;
      PackActivations(dtype, p.x.data(), s.n_tokens, s.n_in, &acts);
      std::vector<float> y(p.y_ref.size(), NAN);
      MatMulRows(p.w, acts, y.data(), 0, s.n_out);
      ExpectClose(p, y, hwy::TargetName(target));
      std::vector<float> y_split(y.size(), NAN);  // a split inside the first and the last group
      const int64_t cut1 = 5, cut2 = s.n_out - 3;
      MatMulRows(p.w, acts, y_split.data(), 0, cut1);
      MatMulRows(p.w, acts, y_split.data(), cut1, cut2);
      MatMulRows(p.w, acts, y_split.data(), cut2, s.n_out);
      ExpectClose(p, y_split, "split rows");
      ExpectPackedClose(p, acts);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// A token's outputs are the same bits whatever tile of tokens it runs in (batched sequences must equal
// sequences run alone): each token of 12 to 14 (every tile size of every kernel), run with all of
// them, against the token run by itself.
TEST_P(MatMulInterleaved, TokenGivesTheSameBitsInEveryTile) {
  const DType dtype = GetParam();
  const int64_t block = GetDTypeInfo(dtype).block_size;
  std::vector<int64_t> lengths = {block, 5 * block, 6 * block};
  if (block == 1) lengths = {1, 3, 133, 770};  // floats: single elements, short rows and a long one
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (int64_t i = 0; i < 3 * static_cast<int64_t>(lengths.size()); ++i) {
      const int64_t n_in = lengths[i / 3];
      const Shape s{n_in, 112, 12 + i % 3};  // 7 groups: one token takes 4, 2, 1 (floats) or pairs
      Problem p = MakeProblem(dtype, s, 5 + static_cast<uint32_t>(i));
      std::vector<uint8_t> rows16(InterleavedBytes(p.w));
      InterleaveRows(p.w, rows16.data());
      p.w.rows16 = rows16.data();
      PackedActs acts;
      PackActivations(dtype, p.x.data(), s.n_tokens, n_in, &acts);
      std::vector<float> y(p.y_ref.size(), NAN);
      MatMulRows(p.w, acts, y.data(), 0, s.n_out);
      for (int64_t t = 0; t < s.n_tokens; ++t) {
        PackedActs one;
        PackActivations(dtype, p.x.data() + t * n_in, 1, n_in, &one);
        std::vector<float> y1(static_cast<size_t>(s.n_out), NAN);
        MatMulRows(p.w, one, y1.data(), 0, s.n_out);
        for (int64_t r = 0; r < s.n_out; ++r) {
          ASSERT_EQ(y1[r], y[t * s.n_out + r]) << hwy::TargetName(target) << " n_in " << n_in << " token " << t
                                               << " row " << r;
        }
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MatMulInterleaved,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                                           DType::kQ4_K, DType::kQ6_K),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

// RebuildRow gives back, from the interleaved copy, the file's bytes of every row in a full group.
TEST(Interleave, RebuildRowGivesBackTheFilesRow) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    ASSERT_TRUE(CanRebuildRows(dtype));
    const int64_t n_in = 3 * GetDTypeInfo(dtype).block_size * (GetDTypeInfo(dtype).block_size == 1 ? 37 : 1);
    Problem p = MakeProblem(dtype, {n_in, 37, 1}, 7);  // two full groups and 5 rows past them
    std::vector<uint8_t> rows16(InterleavedBytes(p.w));
    InterleaveRows(p.w, rows16.data());
    p.w.rows16 = rows16.data();
    std::vector<uint8_t> row(p.w.row_bytes());
    for (int64_t i = 0; i < 32; ++i) {
      std::fill(row.begin(), row.end(), uint8_t{0xAB});
      RebuildRow(p.w, i, row.data());
      EXPECT_EQ(std::memcmp(row.data(), p.w.row(i), row.size()), 0) << DTypeName(dtype) << " row " << i;
    }
  }
  EXPECT_FALSE(CanRebuildRows(DType::kQ5_K));  // no interleaved layout
}

TEST(Interleave, OtherTypesHaveNoInterleavedLayout) {
  TensorView w;
  w.dtype = DType::kQ5_K;
  w.ne[0] = 256;
  w.ne[1] = 32;
  EXPECT_EQ(InterleavedBytes(w), 0u);
  w.dtype = DType::kF16;
  w.ne[1] = 15;  // no full group
  EXPECT_EQ(InterleavedBytes(w), 0u);
}

// PackSwiGlu splits rows into 256-element units across threads; its packing must equal SwiGluSimd
// followed by PackActivations on one thread, bit for bit, whatever the split.
TEST(PackSwiGlu, EqualsSwiGluThenPackActivations) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_K}) {
    const int64_t block = GetDTypeInfo(dtype).block_size;
    for (const auto& [n_in, n_tokens] : {std::pair<int64_t, int64_t>{block, 1}, {19 * 256, 1}, {3 * 256, 3}}) {
      if (n_in % block != 0) continue;
      std::vector<float> gate(static_cast<size_t>(n_in * n_tokens)), up(gate.size());
      for (float& v : gate) v = normal(rng);
      for (float& v : up) v = normal(rng);
      std::vector<float> product(gate.size());
      SwiGluSimd(gate.data(), up.data(), n_in * n_tokens, product.data());
      PackedActs want;
      PackActivations(dtype, product.data(), n_tokens, n_in, &want);
      for (int threads : {1, 2, 3}) {
        SCOPED_TRACE(std::string(DTypeName(dtype)) + " n_in " + std::to_string(n_in) + " tokens " +
                     std::to_string(n_tokens) + " threads " + std::to_string(threads));
        ThreadPool pool(threads);
        std::vector<float> g = gate;
        PackedActs got;
        PackSwiGlu(dtype, g.data(), up.data(), n_tokens, n_in, &got, pool);
        EXPECT_EQ(g, product);
        EXPECT_EQ(got.dot_type, want.dot_type);
        EXPECT_EQ(got.f, want.f);
        EXPECT_EQ(got.q, want.q);
        EXPECT_EQ(got.d, want.d);
        EXPECT_EQ(got.xsum, want.xsum);
        ASSERT_EQ(got.k.size(), want.k.size());
        if (!got.k.empty()) {
          EXPECT_EQ(std::memcmp(got.k.data(), want.k.data(), got.k.size() * sizeof(BlockQ8_K)), 0);
        }
      }
    }
  }
}

TEST(MatMul, FallsBackToReferenceForOtherTypes) {
  Problem p = MakeProblem(DType::kQ5_K, {256, 5, 3}, 7);
  ThreadPool pool(2);
  std::vector<float> y(p.y_ref.size());
  MatMul(pool, p.w, p.x.data(), 3, y.data());
  EXPECT_EQ(y, p.y_ref);
}

}  // namespace
}  // namespace flotilla
