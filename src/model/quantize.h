// Re-encodes the weights of a GGUF model in another type, as llama-quantize does: 2-D weight
// matrices take the target type (with llama.cpp's per-tensor choices for the *_M mixes and the
// output head: output.weight, or token_embd.weight in a model whose head shares it), 1-D tensors
// (norms, biases) stay F32, metadata is copied with general.file_type updated. The result loads in
// llama.cpp and in flotilla.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"
#include "tensor/dtype.h"

namespace flotilla {

struct QuantizeOptions {
  bool pure = false;  // every matrix in the target type, no per-tensor choices
  int n_threads = 0;  // quantizing a tensor's rows (the bytes do not depend on it); 0: one per core
  std::function<void(size_t done, size_t total)> on_tensor;  // progress, after each tensor
};

// Names accepted as TYPE: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
// Q4_K_M, Q5_K_M (case-insensitive).
std::vector<std::string> QuantizeTypeNames();

// INVALID_ARGUMENT for an unknown type or an input that is not a model; errors name the file.
Status QuantizeModel(const std::string& in_path, const std::string& out_path, std::string_view type,
                     const QuantizeOptions& options);

}  // namespace flotilla
