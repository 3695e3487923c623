#include "model/quantize.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <optional>

#include "base/thread_pool.h"
#include "gguf/gguf.h"
#include "tensor/traits.h"

namespace flotilla {
namespace {

struct QuantType {
  std::string_view name;
  DType base;
  int32_t file_type;   // llama.cpp's general.file_type (LLAMA_FTYPE_*)
  bool mostly_mix;     // *_M: some attn_v / ffn_down layers get Q6_K
};

const QuantType kTypes[] = {
    {"F32", DType::kF32, 0, false},     {"F16", DType::kF16, 1, false},     {"Q4_0", DType::kQ4_0, 2, false},
    {"Q4_1", DType::kQ4_1, 3, false},   {"Q8_0", DType::kQ8_0, 7, false},   {"Q5_0", DType::kQ5_0, 8, false},
    {"Q5_1", DType::kQ5_1, 9, false},   {"Q2_K", DType::kQ2_K, 10, false},  {"Q3_K", DType::kQ3_K, 12, false},
    {"Q4_K", DType::kQ4_K, 15, false},  {"Q4_K_M", DType::kQ4_K, 15, true}, {"Q5_K", DType::kQ5_K, 17, false},
    {"Q5_K_M", DType::kQ5_K, 17, true}, {"Q6_K", DType::kQ6_K, 18, false},  {"BF16", DType::kBF16, 32, false},
};

std::optional<QuantType> FindType(std::string_view name) {
  for (const QuantType& t : kTypes) {
    if (t.name.size() == name.size() &&
        std::equal(name.begin(), name.end(), t.name.begin(),
                   [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; })) {
      return t;
    }
  }
  return std::nullopt;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third in between.
bool UseMoreBits(int layer, int n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

int LayerOf(std::string_view name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::atoi(std::string(name.substr(4)).c_str());
}

// The type of one matrix; `row_len` decides fallbacks when rows are not whole blocks. `output_head`:
// the matrix is the output head, output.weight or, in a model without one, the token embedding
// table that the head shares (llama.cpp quantizes both alike).
DType ChooseType(const QuantType& t, bool pure, std::string_view name, bool output_head, int64_t row_len,
                 int n_layer) {
  DType type = t.base;
  const bool quantized = GetDTypeInfo(t.base).block_size > 1;
  if (!pure && quantized && t.base != DType::kQ8_0 && output_head) type = DType::kQ6_K;
  if (!pure && t.mostly_mix && (EndsWith(name, "attn_v.weight") || EndsWith(name, "ffn_down.weight")) &&
      UseMoreBits(LayerOf(name), n_layer)) {
    type = DType::kQ6_K;
  }
  // Fallbacks for rows that are not whole blocks, as llama.cpp's (Q4_K -> Q5_0, Q5_K -> Q5_1,
  // Q6_K -> Q8_0; Q2_K/Q3_K -> Q4_0 where llama.cpp picks IQ4_NL, which flotilla does not write).
  while (row_len % GetDTypeInfo(type).block_size != 0) {
    switch (type) {
      case DType::kQ2_K:
      case DType::kQ3_K: type = DType::kQ4_0; break;
      case DType::kQ4_K: type = DType::kQ5_0; break;
      case DType::kQ5_K: type = DType::kQ5_1; break;
      case DType::kQ6_K: type = DType::kQ8_0; break;
      default: type = DType::kF16; break;  // legacy 32-blocks: F16 keeps the row whole
    }
  }
  return type;
}

}  // namespace

std::vector<std::string> QuantizeTypeNames() {
  std::vector<std::string> names;
  for (const QuantType& t : kTypes) names.emplace_back(t.name);
  return names;
}

Status QuantizeModel(const std::string& in_path, const std::string& out_path, std::string_view type_name,
                     const QuantizeOptions& options) {
  std::optional<QuantType> type = FindType(type_name);
  if (!type) {
    std::string known;
    for (const std::string& n : QuantizeTypeNames()) known += (known.empty() ? "" : ", ") + n;
    return InvalidArgumentError("unknown type '" + std::string(type_name) + "'; types: " + known);
  }
  ASSIGN_OR_RETURN(gguf::File in, gguf::File::Open(in_path));
  ASSIGN_OR_RETURN(std::string arch, in.GetString("general.architecture"));
  const gguf::Value* blocks = in.Find(arch + ".block_count");
  const int n_layer = blocks && blocks->AsInt() ? static_cast<int>(*blocks->AsInt()) : 0;
  const bool tied = in.FindTensor("output.weight") == nullptr;  // the head reads token_embd.weight

  gguf::Writer out;
  for (const auto& [key, value] : in.metadata()) out.Set(key, value);
  out.Set("general.file_type", gguf::Value::U32(static_cast<uint32_t>(type->file_type)));
  std::deque<std::vector<uint8_t>> storage;  // converted tensors, alive until written
  std::vector<float> row_buf;
  ThreadPool pool(options.n_threads);
  size_t done = 0;
  for (const gguf::TensorInfo& t : in.tensors()) {
    const bool matrix = t.shape.size() == 2 && EndsWith(t.name, ".weight");
    const bool output_head = t.name == "output.weight" || (tied && t.name == "token_embd.weight");
    const DType target =
        matrix ? ChooseType(*type, options.pure, t.name, output_head, t.shape[0], n_layer) : DType::kF32;
    if (target == t.dtype || (!matrix && GetDTypeInfo(t.dtype).block_size == 1 && t.dtype != DType::kF16 &&
                              t.dtype != DType::kBF16)) {
      RETURN_IF_ERROR(out.AddTensor(t.name, t.dtype, t.shape, t.bytes()));
    } else {
      row_buf.resize(static_cast<size_t>(t.n_elements()));
      RETURN_IF_ERROR(DequantizeTensor(t.dtype, t.bytes(), t.n_elements(), row_buf.data()).WithContext(t.name));
      const int64_t row_len = t.shape[0];
      ASSIGN_OR_RETURN(std::vector<uint8_t> q,
                       QuantizeTensor(target, row_buf.data(), t.n_elements() / row_len, row_len, &pool));
      RETURN_IF_ERROR(out.AddTensor(t.name, target, t.shape, storage.emplace_back(std::move(q))));
    }
    if (options.on_tensor) options.on_tensor(++done, in.tensors().size());
  }
  return out.WriteFile(out_path);
}

}  // namespace flotilla
