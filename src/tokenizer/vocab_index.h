// A hash index from token text to id for the tokenizer codecs' hot lookups: open addressing over
// string_view keys, so a lookup of a substring of the text being encoded allocates nothing and touches
// one or two cache lines. The index does not own its keys: they must outlive it (views into the
// vocab's token strings, or into storage the owner keeps stable).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

namespace flotilla {

// 64-bit hash of a byte string (8 bytes at a time, a 64x64->128 multiply to mix).
inline uint64_t HashBytes(std::string_view s) {
  auto mix = [](uint64_t a, uint64_t b) {
    const unsigned __int128 m = static_cast<unsigned __int128>(a) * b;
    return static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
  };
  constexpr uint64_t kSeed = 0x9E3779B97F4A7C15ull, kMul = 0xBF58476D1CE4E5B9ull;
  uint64_t h = kSeed ^ s.size();
  const char* p = s.data();
  size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = mix(h ^ v, kMul);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  return mix(h ^ tail, kMul ^ (n << 56));
}

class VocabIndex {
 public:
  // Sizes the table for `n` keys (it also grows on demand).
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    if (cap > slots_.size()) Rehash(cap);
  }
  // Adds `key` -> `id` unless `key` is present. Returns the id stored for `key` and whether it was
  // inserted (the first id wins, as std::unordered_map::emplace).
  std::pair<int32_t, bool> Insert(std::string_view key, int32_t id) {
    if (2 * (size_ + 1) > slots_.size()) Rehash(slots_.empty() ? 16 : 2 * slots_.size());
    const uint64_t hash = HashBytes(key);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot = Slot{key.data(), static_cast<uint32_t>(key.size()), id, hash};
        ++size_;
        return {id, true};
      }
      if (slot.hash == hash && slot.Key() == key) return {slot.id, false};
    }
  }
  // The id of `key`, or -1.
  int32_t Find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const uint64_t hash = HashBytes(key);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.hash == hash && slot.Key() == key) return slot.id;
    }
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    const char* data = nullptr;
    uint32_t size = 0;
    int32_t id = -1;  // -1: empty
    uint64_t hash = 0;
    std::string_view Key() const { return {data, size}; }
  };
  void Rehash(size_t cap) {
    std::vector<Slot> old(cap);
    old.swap(slots_);
    mask_ = cap - 1;
    for (const Slot& slot : old) {
      if (slot.id < 0) continue;
      size_t i = slot.hash & mask_;
      while (slots_[i].id >= 0) i = (i + 1) & mask_;
      slots_[i] = slot;
    }
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace flotilla
