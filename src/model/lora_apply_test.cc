// Load-time LoRA: adapters in llama.cpp's format merge into the weights they name (F32 copies),
// other weights stay mapped; quantized bases are dequantized first; adapters that do not fit the
// model are refused with a message naming the file and the problem.
#include "model/lora.h"

#include <filesystem>
#include <random>

#include <gtest/gtest.h>

#include "model/model.h"
#include "model/test_model.h"
#include "tensor/traits.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

class LoraLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flotilla_model_lora_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& n) const { return (dir_ / n).string(); }

  // Writes an adapter file with the given metadata and tensors.
  std::string WriteAdapter(const std::string& name, const std::string& arch, std::vector<Tensor>& tensors,
                           float alpha = 8.0f, const std::string& type = "adapter") {
    gguf::Writer w;
    w.Set("general.type", gguf::Value::String(type));
    w.Set("general.architecture", gguf::Value::String(arch));
    w.Set("adapter.type", gguf::Value::String("lora"));
    w.Set("adapter.lora.alpha", gguf::Value::F32(alpha));
    for (Tensor& t : tensors) {
      CHECK(w.AddTensor(t.name, DType::kF32, t.shape,
                        {reinterpret_cast<const uint8_t*>(t.data.data()), t.data.size() * 4})
                .ok());
    }
    CHECK(w.WriteFile(P(name)).ok());
    return P(name);
  }
  // A rank-r adapter for blk.<layer>.<module>.weight of `c`.
  static std::vector<Tensor> Pair(const ModelConfig& c, int layer, int module, int64_t r, uint32_t seed) {
    int64_t in = 0, out = 0;
    LoraModuleShape(c, module, &in, &out);
    const std::string base = "blk." + std::to_string(layer) + "." + std::string(kLoraModuleNames[module]) + ".weight";
    return {{base + ".lora_a", {in, r}, Random(r * in, seed)}, {base + ".lora_b", {r, out}, Random(out * r, seed + 1)}};
  }
  fs::path dir_;
};

TEST_F(LoraLoadTest, MergesIntoTheNamedWeightsOnly) {
  const std::string path = testutil::TinyModelPath();
  StatusOr<std::unique_ptr<Model>> plain = Model::Load(path);
  ASSERT_TRUE(plain.ok());
  const ModelConfig& c = (*plain)->config();
  std::vector<Tensor> t = Pair(c, 1, 2, 4, 7);  // blk.1.attn_v
  const std::string adapter = WriteAdapter("a.gguf", "llama", t);
  StatusOr<std::unique_ptr<Model>> m = Model::Load(path, {{adapter, 0.5f}});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const TensorView& wv = (*m)->weights().layers[1].wv;
  const TensorView& base_wv = (*plain)->weights().layers[1].wv;
  EXPECT_EQ(wv.dtype, DType::kF32);
  EXPECT_NE(wv.data, base_wv.data);  // an owned copy
  const gguf::File& file = (*m)->file();  // the others still point into the mapped file
  EXPECT_EQ((*m)->weights().layers[1].wq.data, file.FindTensor("blk.1.attn_q.weight")->data);
  EXPECT_EQ((*m)->weights().layers[0].wv.data, file.FindTensor("blk.0.attn_v.weight")->data);
  EXPECT_NE(wv.data, file.FindTensor("blk.1.attn_v.weight")->data);
  // W + 0.5 * (8 / 4) * B A, element by element.
  const int64_t in = wv.ne[0], out = wv.ne[1], r = 4;
  const float* w0 = reinterpret_cast<const float*>(base_wv.data);
  const float* w1 = reinterpret_cast<const float*>(wv.data);
  for (int64_t o = 0; o < out; o += 3) {
    for (int64_t i = 0; i < in; i += 5) {
      double delta = 0.0;
      for (int64_t k = 0; k < r; ++k) delta += double{t[1].data[o * r + k]} * t[0].data[k * in + i];
      EXPECT_NEAR(w1[o * in + i], w0[o * in + i] + 1.0 * delta, 1e-4) << o << "," << i;
    }
  }
}

TEST_F(LoraLoadTest, QuantizedBaseIsDequantizedAndAdaptersAdd) {
  StatusOr<ModelConfig> c = GetPreset("stories260k", Arch::kLlama);
  ASSERT_TRUE(c.ok());
  c->n_ff = 192;  // Q8_0 rows are whole 32-wide blocks
  StatusOr<Vocab> vocab = TrainSpmVocab(testutil::kTinyModelText, {.vocab_size = c->n_vocab});
  ASSERT_TRUE(vocab.ok());
  ASSERT_TRUE(WriteRandomModel(*c, *vocab, {.dtype = DType::kQ8_0, .init_std = 0.1f}, P("q8.gguf")).ok());
  std::vector<Tensor> t = Pair(*c, 0, 6, 2, 3);  // blk.0.ffn_down
  std::vector<Tensor> neg = t;
  for (float& x : neg[1].data) x = -x;  // B negated: the second adapter cancels the first
  const std::string a = WriteAdapter("a.gguf", "llama", t), b = WriteAdapter("b.gguf", "llama", neg);
  StatusOr<std::unique_ptr<Model>> plain = Model::Load(P("q8.gguf"));
  StatusOr<std::unique_ptr<Model>> both = Model::Load(P("q8.gguf"), {{a, 1.0f}, {b, 1.0f}});
  ASSERT_TRUE(plain.ok() && both.ok()) << both.status().ToString();
  const TensorView& q = (*plain)->weights().layers[0].ffn_down;
  const TensorView& f = (*both)->weights().layers[0].ffn_down;
  ASSERT_EQ(q.dtype, DType::kQ8_0);
  ASSERT_EQ(f.dtype, DType::kF32);
  std::vector<float> deq(static_cast<size_t>(q.n_elements()));
  ASSERT_TRUE(DequantizeTensor(q.dtype, {q.data, q.row_bytes() * static_cast<uint64_t>(q.n_rows())}, q.n_elements(),
                               deq.data()).ok());
  const float* merged = reinterpret_cast<const float*>(f.data);
  for (int64_t i = 0; i < q.n_elements(); i += 7) EXPECT_NEAR(merged[i], deq[i], 1e-4);
}

TEST_F(LoraLoadTest, AdaptersThatDoNotFitAreRefused) {
  const std::string path = testutil::TinyModelPath();
  StatusOr<std::unique_ptr<Model>> plain = Model::Load(path);
  ASSERT_TRUE(plain.ok());
  const ModelConfig& c = (*plain)->config();
  auto error = [&](const std::string& adapter) {
    StatusOr<std::unique_ptr<Model>> m = Model::Load(path, {{adapter, 1.0f}});
    EXPECT_FALSE(m.ok());
    return m.ok() ? std::string() : m.status().message();
  };
  std::vector<Tensor> good = Pair(c, 0, 0, 2, 1);
  EXPECT_NE(error(WriteAdapter("arch.gguf", "qwen2", good)).find("adapter is for architecture qwen2"),
            std::string::npos);
  EXPECT_NE(error(WriteAdapter("type.gguf", "llama", good, 8.0f, "model")).find("not a LoRA adapter"),
            std::string::npos);
  std::vector<Tensor> lonely = {good[0]};
  EXPECT_NE(error(WriteAdapter("lonely.gguf", "llama", lonely)).find("without .lora_b"), std::string::npos);
  std::vector<Tensor> wrong = good;
  wrong[0].shape = {c.n_embd + 1, 2};
  wrong[0].data.resize(static_cast<size_t>((c.n_embd + 1) * 2));
  const std::string shape_error = error(WriteAdapter("shape.gguf", "llama", wrong));
  EXPECT_NE(shape_error.find("shape.gguf"), std::string::npos) << shape_error;
  EXPECT_NE(shape_error.find("have shapes"), std::string::npos) << shape_error;
  std::vector<Tensor> deep = Pair(c, c.n_layer, 0, 2, 1);  // a layer the model does not have
  EXPECT_NE(error(WriteAdapter("deep.gguf", "llama", deep)).find("does not adapt a matrix of this model"),
            std::string::npos);
  std::vector<Tensor> embd = {{"token_embd.weight.lora_a", {c.n_embd, 2}, Random(2 * c.n_embd, 1)},
                              {"token_embd.weight.lora_b", {2, c.n_vocab}, Random(2 * c.n_vocab, 2)}};
  EXPECT_NE(error(WriteAdapter("embd.gguf", "llama", embd)).find("token_embd"), std::string::npos);
  EXPECT_NE(error(P("missing.gguf")).find("missing.gguf"), std::string::npos);
}

}  // namespace
}  // namespace flotilla
