// Per-dtype conversion traits: which reference row kernels exist, and checked whole-tensor helpers.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "flotilla/status.h"
#include "tensor/dtype.h"

namespace flotilla {

class ThreadPool;

// n: elements, a multiple of the block size (see tensor/quant.h for the kernel contract).
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);

struct DTypeTraits {
  DType dtype;
  uint32_t block_size;   // elements per block (as GetDTypeInfo)
  uint32_t block_bytes;  // bytes per block
  DequantizeRowFn dequantize_row;  // nullptr: flotilla cannot read this type as float (I8..F64)
  QuantizeRowFn quantize_row;      // nullptr: flotilla cannot write this type
};

// Never fails for a DType enumerator.
const DTypeTraits& GetTraits(DType dtype);

// Dequantizes `n` elements stored in `src` into dst[0..n). INVALID_ARGUMENT when n is not a whole
// number of blocks or `src` is not exactly that many bytes; UNIMPLEMENTED when the type has no
// dequantizer.
Status DequantizeTensor(DType dtype, std::span<const uint8_t> src, int64_t n, float* dst);

// Quantizes a row-major [n_rows, row_len] float matrix into `dtype`, row by row (rows are independent,
// as in GGUF), the rows split across `pool` when given (the bytes are the same either way).
// INVALID_ARGUMENT when row_len is not a multiple of the block size or a size is negative;
// UNIMPLEMENTED when the type has no quantizer.
StatusOr<std::vector<uint8_t>> QuantizeTensor(DType dtype, const float* src, int64_t n_rows, int64_t row_len,
                                              ThreadPool* pool = nullptr);

}  // namespace flotilla
