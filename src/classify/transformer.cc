#include "classify/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>

#include "base/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/weights.h"

namespace flotilla::classify {
namespace {

constexpr char kBody[] = "flotilla-transformer.body.";
constexpr char kPoolingKey[] = "flotilla-transformer.pooling";
constexpr char kMaxTokensKey[] = "flotilla-transformer.max_tokens";
constexpr int32_t kMaxTokensLimit = 1 << 16;

StatusOr<int32_t> GetPositive(const gguf::File& file, const std::string& key) {
  ASSIGN_OR_RETURN(uint64_t v, file.GetUint(key));
  if (v == 0 || v > (1u << 30)) return DataLossError(key + " = " + std::to_string(v) + " is out of range");
  return static_cast<int32_t>(v);
}

StatusOr<float> GetOptionalFloat(const gguf::File& file, const std::string& key, float fallback) {
  if (!file.Find(key)) return fallback;
  ASSIGN_OR_RETURN(double v, file.GetFloat(key));
  if (!std::isfinite(v) || v <= 0) return DataLossError(key + " must be positive and finite");
  return static_cast<float>(v);
}

// Reads an f32 tensor of exactly `shape` (ggml order).
StatusOr<const float*> F32Tensor(const gguf::File& file, const std::string& name, std::vector<int64_t> shape) {
  const gguf::TensorInfo* t = file.FindTensor(name);
  if (!t) return DataLossError("missing tensor " + name);
  if (t->dtype != DType::kF32 || t->shape != shape) {
    std::string want;
    for (int64_t s : shape) want += (want.empty() ? "" : " x ") + std::to_string(s);
    return DataLossError("tensor " + name + " must be f32 of shape " + want);
  }
  return reinterpret_cast<const float*>(t->data);
}

class TransformerClassifier : public Classifier {
 public:
  TransformerClassifier(std::vector<std::string> labels, std::unique_ptr<std::string> image, gguf::File file)
      : Classifier(std::move(labels)), image_(std::move(image)), file_(std::move(file)) {}

  std::string_view architecture() const override { return kTransformerArchitecture; }
  void Logits(std::string_view text, std::span<float> logits) const override;

  Status Init();

 protected:
  Status AddFamilyData(gguf::Writer* writer, std::vector<std::vector<uint8_t>>* buffers) const override;

 private:
  struct Scratch {
    std::vector<float> x, xn, q, k, v, att, proj, gate, up, scores, pooled;
  };
  // Hidden states of the body, final norm applied, pooled into s.pooled ([n_embd]).
  void Pool(const std::vector<int32_t>& tokens, Scratch& s) const;
  void Attention(int32_t n, const float* q, const float* k, const float* v, Scratch& s, float* out) const;

  std::unique_ptr<std::string> image_;  // the bytes file_ parses, when loaded from memory
  gguf::File file_;
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  Pooling pooling_ = Pooling::kMean;
  int32_t max_tokens_ = 0;
  const float* cls_w_ = nullptr;  // [n_labels, n_embd]
  const float* cls_b_ = nullptr;  // [n_labels]
};

Status TransformerClassifier::Init() {
  RETURN_IF_ERROR(ReadCommon(file_));
  ASSIGN_OR_RETURN(config_, ReadBodyConfig(file_));
  StatusOr<ModelWeights> w = LoadWeights(file_, config_);
  if (!w.ok()) return DataLossError(w.status().message());
  weights_ = std::move(*w);
  StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(file_);
  if (!tok.ok()) return DataLossError("tokenizer: " + std::string(tok.status().message()));
  tokenizer_ = std::move(*tok);
  ASSIGN_OR_RETURN(std::string pooling, file_.GetString(kPoolingKey));
  StatusOr<Pooling> p = ParsePooling(pooling);
  if (!p.ok()) return DataLossError(std::string(kPoolingKey) + ": " + std::string(p.status().message()));
  pooling_ = *p;
  ASSIGN_OR_RETURN(max_tokens_, GetPositive(file_, kMaxTokensKey));
  if (max_tokens_ > kMaxTokensLimit) return DataLossError(std::string(kMaxTokensKey) + " is out of range");
  ASSIGN_OR_RETURN(cls_w_, F32Tensor(file_, kClsWeight, {config_.n_embd, n_labels()}));
  ASSIGN_OR_RETURN(cls_b_, F32Tensor(file_, kClsBias, {n_labels()}));
  return Status::Ok();
}

// q: [n, n_embd] and k, v: [n, n_embd_kv], all roped; out: [n, n_embd]. Causal: row i sees 0..i.
void TransformerClassifier::Attention(int32_t n, const float* q, const float* k, const float* v, Scratch& s,
                                      float* out) const {
  const int32_t hd = config_.head_dim(), group = config_.n_head / config_.n_head_kv;
  const int64_t d = config_.n_embd, dkv = int64_t{config_.n_head_kv} * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  s.scores.resize(static_cast<size_t>(n));
  for (int32_t h = 0; h < config_.n_head; ++h) {
    const int64_t kv_off = int64_t{h / group} * hd;
    for (int32_t i = 0; i < n; ++i) {
      const float* qi = q + i * d + int64_t{h} * hd;
      for (int32_t j = 0; j <= i; ++j) s.scores[j] = DotF32(qi, k + j * dkv + kv_off, hd) * scale;
      ::flotilla::Softmax(s.scores.data(), i + 1);
      float* o = out + i * d + int64_t{h} * hd;
      std::fill(o, o + hd, 0.0f);
      for (int32_t j = 0; j <= i; ++j) {
        const float* vj = v + j * dkv + kv_off;
        for (int32_t c = 0; c < hd; ++c) o[c] += s.scores[j] * vj[c];
      }
    }
  }
}

void TransformerClassifier::Pool(const std::vector<int32_t>& tokens, Scratch& s) const {
  // One thread per call: Logits may run on several threads at once, each with its own pool.
  thread_local ThreadPool pool(1);
  const ModelConfig& c = config_;
  const int32_t n = static_cast<int32_t>(tokens.size());
  const int64_t d = c.n_embd, dkv = int64_t{c.n_head_kv} * c.head_dim(), ff = c.n_ff;
  const RopeParams rope{c.arch == Arch::kQwen2 ? RopeMode::kNeox : RopeMode::kNorm,
                        c.n_rot > 0 ? c.n_rot : c.head_dim(), c.rope_freq_base,
                        weights_.rope_freqs.empty() ? nullptr : weights_.rope_freqs.data()};
  for (auto* b : {&s.x, &s.xn, &s.q, &s.att, &s.proj}) b->resize(static_cast<size_t>(n * d));
  for (auto* b : {&s.k, &s.v}) b->resize(static_cast<size_t>(n * dkv));
  for (auto* b : {&s.gate, &s.up}) b->resize(static_cast<size_t>(n * ff));
  for (int32_t i = 0; i < n; ++i) GetRow(weights_.token_embd, tokens[i], s.x.data() + i * d);  // x: [n, d]
  auto add_bias = [n](float* y, const std::vector<float>& b) {
    if (b.empty()) return;
    for (int32_t i = 0; i < n; ++i) AddInPlace(y + i * static_cast<int64_t>(b.size()), b.data(), b.size());
  };
  for (const LayerWeights& w : weights_.layers) {
    for (int32_t i = 0; i < n; ++i) RmsNorm(s.x.data() + i * d, w.attn_norm.data(), d, c.rms_norm_eps, s.xn.data() + i * d);
    MatMul(pool, w.wq, s.xn.data(), n, s.q.data());
    MatMul(pool, w.wk, s.xn.data(), n, s.k.data());
    MatMul(pool, w.wv, s.xn.data(), n, s.v.data());
    add_bias(s.q.data(), w.bq);
    add_bias(s.k.data(), w.bk);
    add_bias(s.v.data(), w.bv);
    for (int32_t i = 0; i < n; ++i) {
      Rope(s.q.data() + i * d, c.n_head, c.head_dim(), i, rope);
      Rope(s.k.data() + i * dkv, c.n_head_kv, c.head_dim(), i, rope);
    }
    Attention(n, s.q.data(), s.k.data(), s.v.data(), s, s.att.data());
    MatMul(pool, w.wo, s.att.data(), n, s.proj.data());
    AddInPlace(s.x.data(), s.proj.data(), n * d);
    for (int32_t i = 0; i < n; ++i) RmsNorm(s.x.data() + i * d, w.ffn_norm.data(), d, c.rms_norm_eps, s.xn.data() + i * d);
    MatMul(pool, w.ffn_gate, s.xn.data(), n, s.gate.data());
    MatMul(pool, w.ffn_up, s.xn.data(), n, s.up.data());
    SwiGlu(s.gate.data(), s.up.data(), n * ff, s.gate.data());
    MatMul(pool, w.ffn_down, s.gate.data(), n, s.proj.data());
    AddInPlace(s.x.data(), s.proj.data(), n * d);
  }
  s.pooled.assign(static_cast<size_t>(d), 0.0f);
  const int32_t first = pooling_ == Pooling::kLast ? n - 1 : 0;
  for (int32_t i = first; i < n; ++i) {
    RmsNorm(s.x.data() + i * d, weights_.output_norm.data(), d, c.rms_norm_eps, s.xn.data());
    AddInPlace(s.pooled.data(), s.xn.data(), d);
  }
  const float inv = 1.0f / static_cast<float>(n - first);
  for (float& p : s.pooled) p *= inv;
}

void TransformerClassifier::Logits(std::string_view text, std::span<float> logits) const {
  thread_local Scratch s;
  const std::vector<int32_t> tokens = ClassifierTokens(*tokenizer_, text, max_tokens_);
  Pool(tokens, s);
  const int64_t d = config_.n_embd;
  for (int c = 0; c < n_labels(); ++c) logits[c] = cls_b_[c] + DotF32(cls_w_ + c * d, s.pooled.data(), d);
}

Status TransformerClassifier::AddFamilyData(gguf::Writer* writer, std::vector<std::vector<uint8_t>>*) const {
  for (const auto& [key, value] : file_.metadata()) {
    if (key.starts_with("flotilla-transformer.") || key.starts_with("tokenizer.")) writer->Set(key, value);
  }
  for (const gguf::TensorInfo& t : file_.tensors()) {
    RETURN_IF_ERROR(writer->AddTensor(t.name, t.dtype, t.shape, t.bytes()));
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<Classifier>> Build(std::unique_ptr<std::string> image, gguf::File file) {
  ASSIGN_OR_RETURN(std::vector<std::string> labels, ReadLabels(file));
  auto model = std::make_unique<TransformerClassifier>(std::move(labels), std::move(image), std::move(file));
  RETURN_IF_ERROR(model->Init());
  return std::unique_ptr<Classifier>(std::move(model));
}

}  // namespace

std::string_view PoolingName(Pooling p) { return p == Pooling::kLast ? "last" : "mean"; }

StatusOr<Pooling> ParsePooling(std::string_view name) {
  if (name == "mean") return Pooling::kMean;
  if (name == "last") return Pooling::kLast;
  return InvalidArgumentError("pooling is \"" + std::string(name) + "\" (mean, last)");
}

std::vector<int32_t> ClassifierTokens(const Tokenizer& tokenizer, std::string_view text, int32_t max_tokens) {
  std::vector<int32_t> tokens = tokenizer.Encode(text, /*add_special=*/true, /*parse_special=*/false);
  const Vocab& v = tokenizer.vocab();
  // Only BOS counts as a prefix: an EOS the vocab appends would move with truncation.
  if (v.add_eos && !tokens.empty() && tokens.back() == v.eos) tokens.pop_back();
  if (tokens.size() > static_cast<size_t>(std::max(max_tokens, 1))) tokens.resize(std::max(max_tokens, 1));
  if (tokens.empty()) tokens.push_back(v.bos >= 0 ? v.bos : (v.eos >= 0 ? v.eos : 0));
  return tokens;
}

void WriteBodyConfig(const ModelConfig& c, gguf::Writer& w) {
  const std::string a = kBody;
  w.Set(a + "architecture", gguf::Value::String(std::string(ArchName(c.arch))));
  w.Set(a + "context_length", gguf::Value::U32(static_cast<uint32_t>(c.n_ctx_train)));
  w.Set(a + "embedding_length", gguf::Value::U32(static_cast<uint32_t>(c.n_embd)));
  w.Set(a + "block_count", gguf::Value::U32(static_cast<uint32_t>(c.n_layer)));
  w.Set(a + "feed_forward_length", gguf::Value::U32(static_cast<uint32_t>(c.n_ff)));
  w.Set(a + "attention.head_count", gguf::Value::U32(static_cast<uint32_t>(c.n_head)));
  w.Set(a + "attention.head_count_kv", gguf::Value::U32(static_cast<uint32_t>(c.n_head_kv)));
  w.Set(a + "attention.layer_norm_rms_epsilon", gguf::Value::F32(c.rms_norm_eps));
  w.Set(a + "rope.freq_base", gguf::Value::F32(c.rope_freq_base));
  w.Set(a + "rope.dimension_count", gguf::Value::U32(static_cast<uint32_t>(c.n_rot > 0 ? c.n_rot : c.head_dim())));
}

StatusOr<ModelConfig> ReadBodyConfig(const gguf::File& file) {
  const std::string a = kBody;
  ASSIGN_OR_RETURN(std::string arch_name, file.GetString(a + "architecture"));
  std::optional<Arch> arch = ArchFromName(arch_name);
  if (!arch) return DataLossError(a + "architecture \"" + arch_name + "\" is not llama or qwen2");
  ModelConfig c;
  c.arch = *arch;
  ASSIGN_OR_RETURN(c.n_ctx_train, GetPositive(file, a + "context_length"));
  ASSIGN_OR_RETURN(c.n_embd, GetPositive(file, a + "embedding_length"));
  ASSIGN_OR_RETURN(c.n_layer, GetPositive(file, a + "block_count"));
  ASSIGN_OR_RETURN(c.n_ff, GetPositive(file, a + "feed_forward_length"));
  ASSIGN_OR_RETURN(c.n_head, GetPositive(file, a + "attention.head_count"));
  ASSIGN_OR_RETURN(c.n_head_kv, GetPositive(file, a + "attention.head_count_kv"));
  ASSIGN_OR_RETURN(c.rms_norm_eps, GetOptionalFloat(file, a + "attention.layer_norm_rms_epsilon", 1e-5f));
  ASSIGN_OR_RETURN(c.rope_freq_base, GetOptionalFloat(file, a + "rope.freq_base", 10000.0f));
  ASSIGN_OR_RETURN(c.n_rot, GetPositive(file, a + "rope.dimension_count"));
  ASSIGN_OR_RETURN(const gguf::Array* tokens, file.GetArray("tokenizer.ggml.tokens"));
  c.n_vocab = static_cast<int32_t>(tokens->items.size());
  c.tied_output = true;
  Status valid = c.Validate();
  if (!valid.ok()) return DataLossError("body: " + std::string(valid.message()));
  if (c.n_rot > c.head_dim() || c.n_rot % 2 != 0) {
    return DataLossError(a + "rope.dimension_count must be even and at most the head size");
  }
  return c;
}

StatusOr<std::unique_ptr<Classifier>> LoadTransformer(gguf::File file) { return Build(nullptr, std::move(file)); }

StatusOr<std::unique_ptr<Classifier>> LoadTransformerImage(std::string image) {
  auto bytes = std::make_unique<std::string>(std::move(image));
  ASSIGN_OR_RETURN(gguf::File file, gguf::File::Parse(std::span<const uint8_t>(
                                        reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size())));
  return Build(std::move(bytes), std::move(file));
}

}  // namespace flotilla::classify
