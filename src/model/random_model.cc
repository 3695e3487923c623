#include "model/random_model.h"

#include <deque>
#include <random>
#include <vector>

#include "base/thread_pool.h"
#include "gguf/gguf.h"
#include "tensor/traits.h"

namespace flotilla {
namespace {

// llama.cpp's general.file_type for a model whose matrices are all `dtype` (-1: none).
int32_t FileType(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 0;
    case DType::kF16: return 1;
    case DType::kQ4_0: return 2;
    case DType::kQ4_1: return 3;
    case DType::kQ8_0: return 7;
    case DType::kQ5_0: return 8;
    case DType::kQ5_1: return 9;
    case DType::kQ2_K: return 10;
    case DType::kQ3_K: return 12;
    case DType::kQ4_K: return 15;
    case DType::kQ5_K: return 17;
    case DType::kQ6_K: return 18;
    case DType::kBF16: return 32;
    default: return -1;
  }
}

class TensorBuilder {
 public:
  TensorBuilder(gguf::Writer& writer, const RandomModelOptions& options)
      : writer_(writer), options_(options), rng_(options.seed), pool_(options.n_threads) {}

  // A [rows, row_len] matrix (ggml shape {row_len, rows}) of N(0, std^2) values in options.dtype.
  Status Matrix(const std::string& name, int64_t row_len, int64_t rows) {
    std::normal_distribution<float> normal(0.0f, options_.init_std);
    std::vector<float> values(static_cast<size_t>(row_len * rows));
    for (float& v : values) v = normal(rng_);
    return Add(name, options_.dtype, {row_len, rows}, values);
  }

  // A vector of `n` copies of `value`, in F32.
  Status Constant(const std::string& name, int64_t n, float value) {
    return Add(name, DType::kF32, {n}, std::vector<float>(static_cast<size_t>(n), value));
  }

 private:
  // Stores `values` ([rows, shape[0]]) in `dtype`.
  Status Add(const std::string& name, DType dtype, std::vector<int64_t> shape, const std::vector<float>& values) {
    const int64_t row_len = shape[0];
    const int64_t rows = static_cast<int64_t>(values.size()) / row_len;
    ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, QuantizeTensor(dtype, values.data(), rows, row_len, &pool_));
    return writer_.AddTensor(name, dtype, std::move(shape), storage_.emplace_back(std::move(bytes)));
  }

  gguf::Writer& writer_;
  const RandomModelOptions& options_;
  std::mt19937_64 rng_;
  ThreadPool pool_;  // quantizes a matrix's rows
  std::deque<std::vector<uint8_t>> storage_;  // tensor bytes, alive until the file is written
};

Status AddLayer(TensorBuilder& b, const ModelConfig& c, int layer) {
  const std::string p = "blk." + std::to_string(layer) + ".";
  const int64_t n_embd_kv = int64_t{c.n_head_kv} * c.head_dim();
  RETURN_IF_ERROR(b.Constant(p + "attn_norm.weight", c.n_embd, 1.0f));
  RETURN_IF_ERROR(b.Matrix(p + "attn_q.weight", c.n_embd, c.n_embd));
  RETURN_IF_ERROR(b.Matrix(p + "attn_k.weight", c.n_embd, n_embd_kv));
  RETURN_IF_ERROR(b.Matrix(p + "attn_v.weight", c.n_embd, n_embd_kv));
  if (c.arch == Arch::kQwen2) {  // Q/K/V biases
    RETURN_IF_ERROR(b.Constant(p + "attn_q.bias", c.n_embd, 0.0f));
    RETURN_IF_ERROR(b.Constant(p + "attn_k.bias", n_embd_kv, 0.0f));
    RETURN_IF_ERROR(b.Constant(p + "attn_v.bias", n_embd_kv, 0.0f));
  }
  RETURN_IF_ERROR(b.Matrix(p + "attn_output.weight", c.n_embd, c.n_embd));
  RETURN_IF_ERROR(b.Constant(p + "ffn_norm.weight", c.n_embd, 1.0f));
  RETURN_IF_ERROR(b.Matrix(p + "ffn_gate.weight", c.n_embd, c.n_ff));
  RETURN_IF_ERROR(b.Matrix(p + "ffn_up.weight", c.n_embd, c.n_ff));
  return b.Matrix(p + "ffn_down.weight", c.n_ff, c.n_embd);
}

}  // namespace

Status WriteRandomModel(const ModelConfig& config, const Vocab& vocab, const RandomModelOptions& options,
                        const std::string& path) {
  RETURN_IF_ERROR(config.Validate());
  if (vocab.size() != config.n_vocab) {
    return InvalidArgumentError("vocab has " + std::to_string(vocab.size()) + " tokens but the model " +
                                std::to_string(config.n_vocab));
  }
  gguf::Writer writer;
  config.ToGguf(writer);
  if (int32_t ft = FileType(options.dtype); ft >= 0) writer.Set("general.file_type", gguf::Value::U32(ft));
  vocab.ToGguf(writer);

  TensorBuilder b(writer, options);
  RETURN_IF_ERROR(b.Matrix("token_embd.weight", config.n_embd, config.n_vocab));
  for (int layer = 0; layer < config.n_layer; ++layer) RETURN_IF_ERROR(AddLayer(b, config, layer));
  RETURN_IF_ERROR(b.Constant("output_norm.weight", config.n_embd, 1.0f));
  if (!config.tied_output) RETURN_IF_ERROR(b.Matrix("output.weight", config.n_embd, config.n_vocab));
  return writer.WriteFile(path);
}

}  // namespace flotilla
