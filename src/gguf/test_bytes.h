// Test helper: builds GGUF bytes field by field, so tests can write valid and corrupt files by hand.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include "shared_dir.h"

namespace flotilla::gguf::testing {

class ByteBuilder {
 public:
  ByteBuilder& U8(uint8_t v) { return Raw(&v, 1); }
  ByteBuilder& U32(uint32_t v) { return Raw(&v, 4); }
  ByteBuilder& I32(int32_t v) { return Raw(&v, 4); }
  ByteBuilder& U64(uint64_t v) { return Raw(&v, 8); }
  ByteBuilder& I64(int64_t v) { return Raw(&v, 8); }
  ByteBuilder& F32(float v) { return Raw(&v, 4); }
  ByteBuilder& Str(std::string_view s) {
    U64(s.size());
    return Raw(s.data(), s.size());
  }
  ByteBuilder& Zeros(size_t n) {
    bytes_.resize(bytes_.size() + n, 0);
    return *this;
  }
  ByteBuilder& PadTo(size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
    return *this;
  }
  // magic, version, n_tensors, n_kv
  ByteBuilder& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return Raw("GGUF", 4).U32(version).U64(n_tensors).U64(n_kv);
  }
  // A key with a uint32 value.
  ByteBuilder& KvU32(std::string_view key, uint32_t v) { return Str(key).U32(4).U32(v); }
  ByteBuilder& KvStr(std::string_view key, std::string_view v) { return Str(key).U32(8).Str(v); }
  // A tensor info with the given dims (ggml order), dtype id and data offset.
  ByteBuilder& TensorInfo(std::string_view name, std::vector<int64_t> dims, uint32_t dtype,
                          uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(dims.size()));
    for (int64_t d : dims) I64(d);
    return U32(dtype).U64(offset);
  }
  ByteBuilder& Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
    return *this;
  }

  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::span<const uint8_t> span() const { return bytes_; }
  std::vector<uint8_t>& mutable_bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

// The shared test-data directory, or "" (tests/shared_dir.h).
using ::flotilla::testutil::SharedDir;

}  // namespace flotilla::gguf::testing
