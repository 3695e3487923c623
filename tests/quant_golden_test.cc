// Golden check of the tensor dtypes against llama.cpp's own files: the quantized stories260K models
// (made by llama.cpp from the F32 model) must dequantize to within per-type tolerance of the F32
// original, tensor by tensor; and quantizing the F32 tensors with our Q8_0/Q4_0 reference quantizers
// (and our half rounding) must reproduce llama.cpp's bytes.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "tensor/traits.h"
#include "shared_dir.h"

namespace flotilla {
namespace {

using ::flotilla::testutil::SharedDir;

std::string ModelPath(const std::string& variant) {
  return SharedDir() + "/models/stories260K/stories260K-ff192-" + variant + ".gguf";
}

// Dequantizes a whole tensor to float (CHECKs nothing: failures are test failures).
std::vector<float> ToFloat(const gguf::TensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  const Status st = DequantizeTensor(t.dtype, t.bytes(), t.n_elements(), out.data());
  EXPECT_TRUE(st.ok()) << t.name << ": " << st.ToString();
  return out;
}

// sqrt(mean (x - y)^2) / sqrt(mean x^2) (0 for an all-zero x equal to y).
double NormalizedRmse(const std::vector<float>& x, const std::vector<float>& y) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = static_cast<double>(x[i]) - y[i];
    num += d * d;
    den += static_cast<double>(x[i]) * x[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Largest normalized RMSE of one tensor against its F32 original, per stored type. Measured worst
// tensors on these files: f16 0.00021, q8_0 0.0062, q4_0 0.096; the bounds leave about 25-60% margin.
// Types these files do not contain get bounds from the Gaussian measurements in
// src/tensor/quant_roundtrip_test.cc with extra margin (real tensors are small and less regular).
double ToleranceFor(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 0.0;
    case DType::kF16: return 0.0005;
    case DType::kBF16: return 0.004;
    case DType::kQ8_0: return 0.01;
    case DType::kQ6_K: return 0.03;
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ5_K: return 0.06;
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ4_K: return 0.12;
    default: return 0.3;
  }
}

class QuantGolden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(ModelPath("f32"))) {
      GTEST_SKIP() << "shared models not found at " << ModelPath("f32")
                   << " (set FLOTILLA_SHARED to the shared directory)";
    }
  }
};

TEST_P(QuantGolden, DequantizesCloseToF32) {
  auto ref = gguf::File::Open(ModelPath("f32"));
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  auto quant = gguf::File::Open(ModelPath(GetParam()));
  ASSERT_TRUE(quant.ok()) << quant.status().ToString();
  ASSERT_EQ(quant->tensors().size(), ref->tensors().size());
  std::map<DType, double> worst;
  for (const gguf::TensorInfo& t : quant->tensors()) {
    const gguf::TensorInfo* r = ref->FindTensor(t.name);
    ASSERT_NE(r, nullptr) << t.name;
    ASSERT_EQ(t.shape, r->shape) << t.name;
    const std::vector<float> x = ToFloat(*r);
    const std::vector<float> y = ToFloat(t);
    const double e = NormalizedRmse(x, y);
    worst[t.dtype] = std::max(worst[t.dtype], e);
    EXPECT_LE(e, ToleranceFor(t.dtype)) << t.name << " (" << DTypeName(t.dtype) << ")";
  }
  for (const auto& [dtype, e] : worst) {
    std::printf("%s: %-5s worst tensor normalized RMSE %.6f (tolerance %.4f)\n", GetParam().c_str(),
                std::string(DTypeName(dtype)).c_str(), e, ToleranceFor(dtype));
  }
}

// Re-quantizes every F16/Q8_0/Q4_0 tensor of the file from the F32 original and compares blocks: our
// half rounding and llama.cpp's reference Q8_0/Q4_0 quantizers must agree bit for bit (they do: every
// block is identical, so the test demands all of them).
TEST_P(QuantGolden, OurQuantizerReproducesLlamaCppBytes) {
  auto ref = gguf::File::Open(ModelPath("f32"));
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  auto quant = gguf::File::Open(ModelPath(GetParam()));
  ASSERT_TRUE(quant.ok()) << quant.status().ToString();
  int64_t n_blocks = 0, n_same = 0;
  for (const gguf::TensorInfo& t : quant->tensors()) {
    if (t.dtype != DType::kF16 && t.dtype != DType::kQ8_0 && t.dtype != DType::kQ4_0) continue;
    const gguf::TensorInfo* r = ref->FindTensor(t.name);
    ASSERT_NE(r, nullptr) << t.name;
    const std::vector<float> x = ToFloat(*r);
    const int64_t row_len = t.shape[0];
    auto ours = QuantizeTensor(t.dtype, x.data(), t.n_elements() / row_len, row_len);
    ASSERT_TRUE(ours.ok()) << ours.status().ToString();
    ASSERT_EQ(ours->size(), t.n_bytes) << t.name;
    const uint32_t block_bytes = GetTraits(t.dtype).block_bytes;
    int64_t same = 0;
    for (uint64_t off = 0; off < t.n_bytes; off += block_bytes) {
      same += std::memcmp(ours->data() + off, t.data + off, block_bytes) == 0;
    }
    n_blocks += static_cast<int64_t>(t.n_bytes / block_bytes);
    n_same += same;
    EXPECT_EQ(same, static_cast<int64_t>(t.n_bytes / block_bytes)) << t.name << " (" << DTypeName(t.dtype)
                                                                   << ")";
  }
  std::printf("%s: %lld of %lld F16/Q8_0/Q4_0 blocks identical to llama.cpp's\n", GetParam().c_str(),
              static_cast<long long>(n_same), static_cast<long long>(n_blocks));
}

INSTANTIATE_TEST_SUITE_P(Stories260K, QuantGolden,
                         ::testing::Values("f16", "q8_0", "q4_0", "q4_0-pure"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = (c == '-') ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace flotilla
