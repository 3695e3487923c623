// Training family 2 of the classifiers (classify/transformer.h): a llama-family body with a
// classification head, trained on softmax cross-entropy with AdamW (warm-up + cosine schedule,
// global-norm clipping over body and head together).
//
// The body is either new (from scratch: the shape below, random init, and a SentencePiece-style vocab
// learned from the training texts) or a llama/qwen2 GGUF backbone (its config, vocab and weights, all
// fine-tuned, or frozen with LoRA adapters trained). A backbone pretrained on unlabeled text with `flotilla train` (next-token objective) is
// the way to pretrain before classifying.
//
// Batches: texts are shuffled, then sorted by length within windows of 32 batches so a batch pads
// little; each batch runs at the smallest multiple of 8 tokens that holds its longest text (one
// TrainGraph per such length). Padding follows the text, so causal attention never sees it, and
// pooling skips it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "classify/transformer.h"
#include "flotilla/status.h"
#include "tokenizer/vocab.h"
#include "train/params.h"

namespace flotilla::train {

struct TransformerClassifierOptions {
  // From scratch: the body's shape (llama, tied embedding) and the size of the learned vocab.
  int32_t n_embd = 256, n_layer = 2, n_head = 4, n_ff = 768;
  int32_t vocab_size = 4096;
  // A llama-family GGUF whose config, vocab and weights start the body; empty: from scratch.
  std::string backbone;
  int32_t lora_rank = 0;          // > 0: the backbone stays frozen; LoRA adapters on its attention
                                  // projections (train/lora.h defaults) and the head are trained, and
                                  // the adapters are merged into the saved body
  classify::Pooling pooling = classify::Pooling::kMean;
  int32_t max_tokens = 64;        // per text, BOS included; longer texts are cut
  int epochs = 0;                 // 0: 10 from scratch, 4 on a backbone
  int64_t batch = 32;             // texts per update
  float lr = 0.0f;                // peak; 0: 1e-3 from scratch or with LoRA, 1e-4 full fine-tune
  float weight_decay = 0.01f;     // AdamW's, on matrices
  float warmup_fraction = 0.05f;  // of all updates
  int n_threads = 0;              // 0: one per core
  bool verbose = false;           // a line per epoch on stderr

  Status Validate() const;
};

// Trains on texts[i] with class labels[i] in [0, label_names.size()) and returns the classifier
// (temperature 1, no abstain policy: classify::TrainClassifier calibrates it). Deterministic given
// the seed and the thread count. Errors: bad options, an unreadable or unsupported backbone.
StatusOr<std::unique_ptr<classify::Classifier>> TrainTransformerClassifier(
    const std::vector<std::string_view>& texts, const std::vector<int32_t>& labels,
    const std::vector<std::string>& label_names, const TransformerClassifierOptions& options, uint64_t seed);

// The classifier made of a body (tied output), its vocab and a head w: [n_labels, n_embd], b:
// [n_labels]; temperature 1, no abstain policy. Copies everything (via an in-memory GGUF image).
StatusOr<std::unique_ptr<classify::Classifier>> MakeTransformerClassifier(
    ModelParams& body, const Vocab& vocab, const std::vector<float>& head_w, const std::vector<float>& head_b,
    const std::vector<std::string>& label_names, classify::Pooling pooling, int32_t max_tokens);

// The head's loss on a batch of hidden states, and its gradients; exposed for the gradient check.
//   hidden: [batch * seq, d] final-normed body output; lens[b]: real tokens of sequence b (0: a
//   padding sequence, not counted); labels[b] in [0, n_labels); w: [n_labels, d]; bias: [n_labels].
// Returns the summed cross-entropy (nats) of the counted sequences. With dw (then db and dhidden too):
// dw += scale * dL/dw, db += scale * dL/db, dhidden = scale * dL/dhidden (overwritten; zero on padding).
// logits (may be null) receives [batch, n_labels].
double ClassifierHeadLoss(const float* hidden, int64_t batch, int64_t seq, int64_t d, const int32_t* lens,
                          const int32_t* labels, classify::Pooling pooling, const float* w, const float* bias,
                          int32_t n_labels, float scale, float* dw, float* db, float* dhidden,
                          float* logits = nullptr);

}  // namespace flotilla::train
