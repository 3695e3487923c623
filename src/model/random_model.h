// Writes a llama-family GGUF with random weights at a given shape: the models that benchmarks and
// tests make for themselves (`flotilla init --random`). Tensor names and layouts are llama.cpp's.
#pragma once

#include <cstdint>
#include <string>

#include "flotilla/status.h"
#include "model/config.h"
#include "tensor/dtype.h"
#include "tokenizer/vocab.h"

namespace flotilla {

struct RandomModelOptions {
  DType dtype = DType::kF32;  // of the matrices; norm weights (and biases) stay F32
  uint64_t seed = 42;
  float init_std = 0.02f;     // matrices ~ N(0, init_std^2); norm weights are 1
  int n_threads = 0;          // quantizing the matrices (the values do not depend on it); 0: one per core
};

// INVALID_ARGUMENT when the vocab size differs from config.n_vocab, the config is inconsistent, or
// a matrix row is not a whole number of `dtype` blocks.
Status WriteRandomModel(const ModelConfig& config, const Vocab& vocab, const RandomModelOptions& options,
                        const std::string& path);

}  // namespace flotilla
