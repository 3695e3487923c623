// Family 2: a llama-family transformer body with a classification head ("flotilla-transformer").
//
// A text becomes tokens with the model's own tokenizer: BOS (when the vocab adds one), then the text's
// pieces, truncated to max_tokens. The body (token embedding, n_layer causal llama/qwen2 blocks, final
// RMSNorm) maps them to hidden states H [n_tokens, n_embd]; pooling takes their mean ("mean") or the
// last row ("last"), and the head gives logits z = W · pooled + b, W: [n_labels, n_embd], b: [n_labels].
// Training lives in src/train (classifier_trainer.h); this file is the inference side and the format.
//
// GGUF (besides the common classify.* keys of classifier.h):
//   flotilla-transformer.body.architecture   string  llama | qwen2
//   flotilla-transformer.body.{context_length, embedding_length, block_count, feed_forward_length,
//       attention.head_count, attention.head_count_kv, attention.layer_norm_rms_epsilon,
//       rope.freq_base, rope.dimension_count}   the body's hyper-parameters (as <arch>.* in a model GGUF)
//   flotilla-transformer.pooling             string  mean | last
//   flotilla-transformer.max_tokens          u32     tokens per text, BOS included
//   tokenizer.ggml.*                         the vocab, as in a model GGUF
//   tensors: the body as llama.cpp names them (token_embd.weight, blk.N.*, output_norm.weight, and
//   rope_freqs.weight when the body has Llama 3 factors; no output.weight), any dtype the inference
//   kernels compute with; cls.weight f32 [n_labels, n_embd] (ggml shape {n_embd, n_labels}); cls.bias
//   f32 [n_labels].
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "flotilla/status.h"
#include "gguf/gguf.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace flotilla::classify {

inline constexpr std::string_view kTransformerArchitecture = "flotilla-transformer";
inline constexpr char kClsWeight[] = "cls.weight";
inline constexpr char kClsBias[] = "cls.bias";

enum class Pooling { kMean, kLast };
std::string_view PoolingName(Pooling p);                           // "mean", "last"
StatusOr<Pooling> ParsePooling(std::string_view name);             // INVALID_ARGUMENT otherwise

// The tokens a text is classified from (training and inference must agree): BOS when the vocab adds
// one, the text's pieces (special-token text is not parsed), truncated to max_tokens; never empty.
std::vector<int32_t> ClassifierTokens(const Tokenizer& tokenizer, std::string_view text, int32_t max_tokens);

// Writes / reads the flotilla-transformer.body.* keys. n_vocab comes from the tokenizer token list;
// the body's output is always tied (no output.weight). Reading validates the shape like a model GGUF.
void WriteBodyConfig(const ModelConfig& config, gguf::Writer& writer);
StatusOr<ModelConfig> ReadBodyConfig(const gguf::File& file);

// Builds the classifier from an opened file whose architecture is flotilla-transformer; validates
// every key and tensor. The file stays open (weights are used in place).
StatusOr<std::unique_ptr<Classifier>> LoadTransformer(gguf::File file);
// The same from a complete GGUF image in memory (what the trainer produces); owns the bytes.
StatusOr<std::unique_ptr<Classifier>> LoadTransformerImage(std::string image);

}  // namespace flotilla::classify
