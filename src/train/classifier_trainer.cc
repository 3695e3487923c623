#include "train/classifier_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>

#include "base/thread_pool.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_trainer.h"
#include "train/graph.h"
#include "train/lora.h"
#include "train/optimizer.h"
#include "train/params.h"

namespace flotilla::train {
namespace {

constexpr int64_t kLengthStep = 8;    // batches run at a multiple of this many tokens
constexpr int64_t kSortWindow = 32;   // batches whose texts are sorted by length together
constexpr double kClipNorm = 1.0;     // global gradient norm
constexpr int kScratchEpochs = 10, kBackboneEpochs = 4;

// The classification head and its AdamW state (the body's is train::AdamW).
struct Head {
  int32_t n_labels = 0;
  int64_t d = 0;
  std::vector<float> w, b, dw, db, mw, vw, mb, vb;  // w: [n_labels, d], b: [n_labels]

  Head(int32_t labels, int64_t dim, uint64_t seed) : n_labels(labels), d(dim) {
    const size_t nw = static_cast<size_t>(labels * dim);
    w.resize(nw), dw.resize(nw), mw.resize(nw), vw.resize(nw);
    b.resize(labels), db.resize(labels), mb.resize(labels), vb.resize(labels);
    std::mt19937_64 rng(seed ^ 0xC1A55ull);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (float& x : w) x = normal(rng);
  }
  double SquaredGradNorm() const {
    double s = 0;
    for (float g : dw) s += double{g} * g;
    for (float g : db) s += double{g} * g;
    return s;
  }
  void Zero() {
    std::fill(dw.begin(), dw.end(), 0.0f);
    std::fill(db.begin(), db.end(), 0.0f);
  }
  // The same update as AdamW::Step without clipping (done by the caller); decay on w only.
  void Step(const AdamWOptions& o, int64_t t, float lr, float clip) {
    const float c1 = 1.0f - static_cast<float>(std::pow(o.beta1, static_cast<double>(t)));
    const float c2 = 1.0f - static_cast<float>(std::pow(o.beta2, static_cast<double>(t)));
    auto update = [&](std::vector<float>& p, std::vector<float>& g, std::vector<float>& m, std::vector<float>& v,
                      float decay) {
      for (size_t i = 0; i < p.size(); ++i) {
        const float gi = g[i] * clip;
        m[i] = o.beta1 * m[i] + (1.0f - o.beta1) * gi;
        v[i] = o.beta2 * v[i] + (1.0f - o.beta2) * gi * gi;
        p[i] -= lr * ((m[i] / c1) / (std::sqrt(v[i] / c2) + o.eps) + decay * p[i]);
      }
    };
    update(w, dw, mw, vw, o.weight_decay);
    update(b, db, mb, vb, 0.0f);
  }
};

// The body to train and the tokenizer that feeds it.
struct Body {
  ModelParams params;
  Vocab vocab;
  std::unique_ptr<Tokenizer> tokenizer;
};

StatusOr<Body> MakeBody(const std::vector<std::string_view>& texts, const TransformerClassifierOptions& o,
                        uint64_t seed) {
  Body body;
  if (!o.backbone.empty()) {
    ASSIGN_OR_RETURN(gguf::File f, gguf::File::Open(o.backbone));
    auto loaded = [&]() -> Status {
      ASSIGN_OR_RETURN(body.vocab, Vocab::FromGguf(f));
      ASSIGN_OR_RETURN(body.params, LoadParams(f));
      return Status::Ok();
    }();
    if (!loaded.ok()) return loaded.WithContext("backbone " + o.backbone);
    body.params.config.tied_output = true;  // the language-model head is not used
    body.params.output.clear();
    body.params.output.shrink_to_fit();
  } else {
    std::string corpus;
    for (std::string_view t : texts) corpus.append(t).push_back('\n');
    ASSIGN_OR_RETURN(body.vocab, TrainSpmVocab(corpus, {.vocab_size = o.vocab_size}));
    ModelConfig c;
    c.arch = Arch::kLlama;
    c.name = "flotilla-transformer-classifier";
    c.n_vocab = body.vocab.size();
    c.n_ctx_train = o.max_tokens;
    c.n_embd = o.n_embd, c.n_layer = o.n_layer, c.n_ff = o.n_ff, c.n_head = c.n_head_kv = o.n_head;
    c.tied_output = true;
    RETURN_IF_ERROR(c.Validate());
    body.params = RandomParams(c, seed);
  }
  ASSIGN_OR_RETURN(body.tokenizer, Tokenizer::Create(body.vocab));
  return body;
}

// Indices of the texts per batch for one epoch (see the header: shuffled, sorted in windows).
std::vector<std::vector<int64_t>> EpochBatches(const std::vector<std::vector<int32_t>>& tokens, int64_t batch,
                                               std::mt19937_64& rng) {
  std::vector<int64_t> order(tokens.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  const int64_t window = batch * kSortWindow;
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(window)) {
    auto end = order.begin() + static_cast<int64_t>(std::min(order.size(), s + static_cast<size_t>(window)));
    std::stable_sort(order.begin() + static_cast<int64_t>(s), end,
                     [&](int64_t a, int64_t b) { return tokens[a].size() < tokens[b].size(); });
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(batch)) {
    batches.emplace_back(order.begin() + static_cast<int64_t>(s),
                         order.begin() + static_cast<int64_t>(std::min(order.size(), s + static_cast<size_t>(batch))));
  }
  std::shuffle(batches.begin(), batches.end(), rng);
  return batches;
}

}  // namespace

Status TransformerClassifierOptions::Validate() const {
  if (max_tokens < 2 || max_tokens > 4096) return InvalidArgumentError("max tokens must be in [2, 4096]");
  if (epochs < 0 || epochs > 1000) return InvalidArgumentError("epochs must be in [0, 1000]");
  if (batch < 1 || batch > 4096) return InvalidArgumentError("batch must be in [1, 4096]");
  if (!(lr >= 0 && lr < 1)) return InvalidArgumentError("learning rate must be in [0, 1)");
  if (!(weight_decay >= 0 && weight_decay < 1)) return InvalidArgumentError("weight decay must be in [0, 1)");
  if (!(warmup_fraction >= 0 && warmup_fraction <= 1)) return InvalidArgumentError("warm-up must be in [0, 1]");
  if (lora_rank < 0 || lora_rank > 1024) return InvalidArgumentError("LoRA rank must be in [0, 1024]");
  if (lora_rank > 0 && backbone.empty()) return InvalidArgumentError("LoRA (--lora-rank) needs a --backbone");
  if (backbone.empty()) {
    if (n_embd < 1 || n_layer < 1 || n_head < 1 || n_ff < 1 || n_embd > 8192 || n_layer > 64 || n_ff > 32768) {
      return InvalidArgumentError("the body's sizes must be positive (and at most 8192 wide, 64 layers)");
    }
    if (n_embd % n_head != 0 || (n_embd / n_head) % 2 != 0) {
      return InvalidArgumentError("n_embd " + std::to_string(n_embd) + " must be an even multiple of n_head " +
                                  std::to_string(n_head));
    }
  }
  return Status::Ok();
}

double ClassifierHeadLoss(const float* hidden, int64_t batch, int64_t seq, int64_t d, const int32_t* lens,
                          const int32_t* labels, classify::Pooling pooling, const float* w, const float* bias,
                          int32_t n_labels, float scale, float* dw, float* db, float* dhidden, float* logits) {
  std::vector<float> pooled(static_cast<size_t>(d)), z(static_cast<size_t>(n_labels));
  double loss = 0;
  if (dhidden) std::fill(dhidden, dhidden + batch * seq * d, 0.0f);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = lens[b];
    if (len <= 0) continue;
    // pooled = mean of rows [first, len) of sequence b.
    const int64_t first = pooling == classify::Pooling::kLast ? len - 1 : 0;
    const float inv = 1.0f / static_cast<float>(len - first);
    std::fill(pooled.begin(), pooled.end(), 0.0f);
    for (int64_t t = first; t < len; ++t) {
      const float* h = hidden + (b * seq + t) * d;
      for (int64_t j = 0; j < d; ++j) pooled[j] += h[j];
    }
    for (float& p : pooled) p *= inv;
    float zmax = -INFINITY;
    for (int32_t c = 0; c < n_labels; ++c) {
      double s = bias[c];
      for (int64_t j = 0; j < d; ++j) s += double{w[c * d + j]} * pooled[j];
      z[c] = static_cast<float>(s);
      zmax = std::max(zmax, z[c]);
    }
    if (logits) std::copy(z.begin(), z.end(), logits + b * n_labels);
    double sum = 0;
    for (int32_t c = 0; c < n_labels; ++c) sum += std::exp(double{z[c]} - zmax);
    loss += std::log(sum) + zmax - z[labels[b]];
    if (!dw) continue;
    // dz = scale * (softmax(z) - onehot); dpooled = W^T dz, spread evenly over the pooled rows.
    std::vector<float> dpooled(static_cast<size_t>(d), 0.0f);
    for (int32_t c = 0; c < n_labels; ++c) {
      const float dz = scale * static_cast<float>(std::exp(double{z[c]} - zmax) / sum - (c == labels[b] ? 1 : 0));
      db[c] += dz;
      for (int64_t j = 0; j < d; ++j) {
        dw[c * d + j] += dz * pooled[j];
        dpooled[j] += dz * w[c * d + j];
      }
    }
    for (int64_t t = first; t < len; ++t) {
      float* dh = dhidden + (b * seq + t) * d;
      for (int64_t j = 0; j < d; ++j) dh[j] = dpooled[j] * inv;
    }
  }
  return loss;
}

namespace {

// One training run: the body (all of it, or LoRA adapters on a frozen body), the head, their
// optimizers and a TrainGraph per padded length.
class Run {
 public:
  Run(Body& body, const TransformerClassifierOptions& o, int32_t n_labels, uint64_t seed)
      : body_(body), o_(o), pool_(o.n_threads), head_(n_labels, body.params.config.n_embd, seed) {
    adam_.weight_decay = o.weight_decay;
    adam_.grad_clip = 0;  // clipped here, over the trained tensors and the head together
  }

  Status Init(uint64_t seed) {
    if (o_.lora_rank > 0) {
      LoraOptions lo;
      lo.rank = o_.lora_rank;
      ASSIGN_OR_RETURN(LoraParams lora, InitLora(body_.params.config, lo, seed));
      lora_ = std::make_unique<LoraParams>(std::move(lora));
      lora_grads_ = std::make_unique<LoraParams>(LoraParams::ZerosLike(*lora_));
      lora_adam_ = std::make_unique<LoraAdamW>(*lora_, adam_);
    } else {
      grads_ = std::make_unique<ModelParams>(ModelParams::ZerosLike(body_.params));
      adam_body_ = std::make_unique<AdamW>(body_.params, adam_);
    }
    return Status::Ok();
  }

  // One update on the texts `idx`; returns the summed loss, counts correct argmaxes into *correct.
  double Step(const std::vector<std::vector<int32_t>>& tokens, const std::vector<int32_t>& labels,
              const std::vector<int64_t>& idx, float lr, int64_t* correct);

  // The trained classifier: adapters merged into the body.
  StatusOr<std::unique_ptr<classify::Classifier>> Finish(const std::vector<std::string>& names) {
    if (lora_) MergeLora(*lora_, body_.params);
    return MakeTransformerClassifier(body_.params, body_.vocab, head_.w, head_.b, names, o_.pooling, o_.max_tokens);
  }

 private:
  std::vector<ParamTensor> TrainedGrads() { return lora_ ? lora_grads_->Tensors() : grads_->Tensors(); }

  Body& body_;
  const TransformerClassifierOptions& o_;
  ThreadPool pool_;
  Head head_;
  AdamWOptions adam_;
  std::unique_ptr<ModelParams> grads_;  // full fine-tune
  std::unique_ptr<AdamW> adam_body_;
  std::unique_ptr<LoraParams> lora_, lora_grads_;  // LoRA
  std::unique_ptr<LoraAdamW> lora_adam_;
  std::map<int64_t, std::unique_ptr<TrainGraph>> graphs_;  // by padded length
  std::vector<int32_t> batch_tokens_, lens_, ys_;
  std::vector<float> dhidden_, logits_;
  int64_t t_ = 0;  // updates done
};

double Run::Step(const std::vector<std::vector<int32_t>>& tokens, const std::vector<int32_t>& labels,
                 const std::vector<int64_t>& idx, float lr, int64_t* correct) {
  const ModelConfig& c = body_.params.config;
  const int64_t B = o_.batch, n_labels = head_.n_labels;
  int64_t longest = 1;
  for (int64_t i : idx) longest = std::max<int64_t>(longest, static_cast<int64_t>(tokens[i].size()));
  const int64_t seq = (longest + kLengthStep - 1) / kLengthStep * kLengthStep;
  std::unique_ptr<TrainGraph>& g = graphs_[seq];
  if (!g) g = std::make_unique<TrainGraph>(c, B, seq, pool_, body_.params.rope_freqs);
  // Rows: the text, then padding (any valid id: causal attention keeps it out of the text's states).
  batch_tokens_.assign(static_cast<size_t>(B * seq), body_.vocab.eos >= 0 ? body_.vocab.eos : 0);
  lens_.assign(static_cast<size_t>(B), 0);
  ys_.assign(static_cast<size_t>(B), 0);
  for (size_t b = 0; b < idx.size(); ++b) {
    const std::vector<int32_t>& t = tokens[idx[b]];
    std::copy(t.begin(), t.end(), batch_tokens_.begin() + static_cast<int64_t>(b) * seq);
    lens_[b] = static_cast<int32_t>(t.size());
    ys_[b] = labels[idx[b]];
  }
  head_.Zero();
  dhidden_.resize(static_cast<size_t>(B * seq * c.n_embd));
  logits_.resize(static_cast<size_t>(B * n_labels));
  const float* hidden = lora_ ? g->ForwardHidden(body_.params, *lora_, batch_tokens_.data())
                              : g->ForwardHidden(body_.params, batch_tokens_.data());
  const double loss = ClassifierHeadLoss(hidden, B, seq, c.n_embd, lens_.data(), ys_.data(), o_.pooling,
                                         head_.w.data(), head_.b.data(), head_.n_labels,
                                         1.0f / static_cast<float>(idx.size()), head_.dw.data(), head_.db.data(),
                                         dhidden_.data(), logits_.data());
  for (size_t b = 0; b < idx.size(); ++b) {
    const float* z = logits_.data() + b * n_labels;
    *correct += std::max_element(z, z + n_labels) - z == ys_[b];
  }
  if (lora_) {
    lora_grads_->SetZero();
    g->BackwardHiddenLora(body_.params, *lora_, batch_tokens_.data(), dhidden_.data(), *lora_grads_);
  } else {
    grads_->SetZero();
    g->BackwardHidden(body_.params, batch_tokens_.data(), dhidden_.data(), *grads_);
  }
  // Global-norm clipping over everything trained, then the two AdamW updates.
  double sq = head_.SquaredGradNorm();
  std::vector<ParamTensor> trained = TrainedGrads();
  for (const ParamTensor& t : trained) {
    for (int64_t i = 0; i < t.size; ++i) sq += double{t.data[i]} * t.data[i];
  }
  const double norm = std::sqrt(sq);
  const float clip = norm > kClipNorm ? static_cast<float>(kClipNorm / norm) : 1.0f;
  if (clip < 1.0f) {
    for (const ParamTensor& t : trained) {
      for (int64_t i = 0; i < t.size; ++i) t.data[i] *= clip;
    }
  }
  if (lora_) {
    lora_adam_->Step(*lora_, *lora_grads_, lr);
  } else {
    adam_body_->Step(body_.params, *grads_, lr);
  }
  head_.Step(adam_, ++t_, lr, clip);
  return loss;
}

}  // namespace

StatusOr<std::unique_ptr<classify::Classifier>> TrainTransformerClassifier(
    const std::vector<std::string_view>& texts, const std::vector<int32_t>& labels,
    const std::vector<std::string>& label_names, const TransformerClassifierOptions& options, uint64_t seed) {
  RETURN_IF_ERROR(options.Validate());
  if (texts.empty() || texts.size() != labels.size()) return InvalidArgumentError("no training texts");
  if (label_names.size() < 2) return InvalidArgumentError("a classifier needs at least two classes");
  const int32_t n_labels = static_cast<int32_t>(label_names.size());
  for (int32_t y : labels) {
    if (y < 0 || y >= n_labels) return InvalidArgumentError("a label index is out of range");
  }
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(Body body, MakeBody(texts, options, seed));
  std::vector<std::vector<int32_t>> tokens(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    tokens[i] = classify::ClassifierTokens(*body.tokenizer, texts[i], options.max_tokens);
  }
  Run run(body, options, n_labels, seed);
  RETURN_IF_ERROR(run.Init(seed));
  const bool scratch = options.backbone.empty();
  const int epochs = options.epochs > 0 ? options.epochs : (scratch ? kScratchEpochs : kBackboneEpochs);
  ScheduleOptions schedule;
  schedule.lr = options.lr > 0 ? options.lr : (scratch || options.lora_rank > 0 ? 1e-3f : 1e-4f);
  schedule.total_steps = (static_cast<int64_t>(texts.size()) + options.batch - 1) / options.batch * epochs;
  schedule.warmup_steps = static_cast<int64_t>(options.warmup_fraction * static_cast<float>(schedule.total_steps));
  std::mt19937_64 rng(seed);
  int64_t step = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    double loss = 0;
    int64_t correct = 0;
    for (const std::vector<int64_t>& idx : EpochBatches(tokens, options.batch, rng)) {
      loss += run.Step(tokens, labels, idx, LearningRate(schedule, ++step), &correct);
    }
    if (options.verbose) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double n = static_cast<double>(texts.size());
      std::fprintf(stderr, "  epoch %d/%d  loss %.4f  train acc %.4f  %.0f s\n", epoch, epochs, loss / n,
                   static_cast<double>(correct) / n, secs);
    }
  }
  return run.Finish(label_names);
}

StatusOr<std::unique_ptr<classify::Classifier>> MakeTransformerClassifier(
    ModelParams& body, const Vocab& vocab, const std::vector<float>& head_w, const std::vector<float>& head_b,
    const std::vector<std::string>& label_names, classify::Pooling pooling, int32_t max_tokens) {
  const int64_t n_labels = static_cast<int64_t>(label_names.size()), d = body.config.n_embd;
  if (!body.config.tied_output || static_cast<int64_t>(head_w.size()) != n_labels * d ||
      static_cast<int64_t>(head_b.size()) != n_labels) {
    return InvalidArgumentError("classifier head does not fit the body and labels");
  }
  gguf::Writer w;
  w.Set("general.architecture", gguf::Value::String(std::string(classify::kTransformerArchitecture)));
  w.Set("classify.labels", gguf::Value::StringArray(label_names));
  w.Set("classify.temperature", gguf::Value::F32(1.0f));
  w.Set("classify.abstain.target", gguf::Value::String("none"));
  w.Set("classify.abstain.value", gguf::Value::F32(0.0f));
  w.Set("classify.abstain.threshold", gguf::Value::F32(0.0f));
  classify::WriteBodyConfig(body.config, w);
  w.Set("flotilla-transformer.pooling", gguf::Value::String(std::string(classify::PoolingName(pooling))));
  w.Set("flotilla-transformer.max_tokens", gguf::Value::U32(static_cast<uint32_t>(max_tokens)));
  vocab.ToGguf(w);
  RETURN_IF_ERROR(AddParamTensors(body, w));
  auto bytes = [](const std::vector<float>& v) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float));
  };
  const std::vector<float>& rf = body.rope_freqs;
  if (!rf.empty()) {
    RETURN_IF_ERROR(w.AddTensor("rope_freqs.weight", DType::kF32, {static_cast<int64_t>(rf.size())}, bytes(rf)));
  }
  RETURN_IF_ERROR(w.AddTensor(classify::kClsWeight, DType::kF32, {d, n_labels}, bytes(head_w)));
  RETURN_IF_ERROR(w.AddTensor(classify::kClsBias, DType::kF32, {n_labels}, bytes(head_b)));
  ASSIGN_OR_RETURN(std::string image, w.WriteToString());
  return classify::LoadTransformerImage(std::move(image));
}

}  // namespace flotilla::train
