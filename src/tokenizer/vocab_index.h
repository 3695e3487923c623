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

// The first 8 bytes of `s`, zero-padded.
inline uint64_t KeyPrefix(std::string_view s) {
  uint64_t v = 0;
  std::memcpy(&v, s.data(), s.size() < 8 ? s.size() : 8);
  return v;
}

class VocabIndex {
 public:
  // Sizes the table for `n` keys (it also grows on demand).
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    if (cap > slots_.size()) Rehash(cap);
  }
  // Adds `key` -> `id` (id >= 0) unless `key` is present. Returns the id stored for `key` and
  // whether it was inserted (the first id wins, as std::unordered_map::emplace).
  std::pair<int32_t, bool> Insert(std::string_view key, int32_t id) {
    return Insert(key, id, HashBytes(key));
  }
  // The same with `hash` = HashBytes(key).
  std::pair<int32_t, bool> Insert(std::string_view key, int32_t id, uint64_t hash) {
    if (2 * (size_ + 1) > slots_.size()) Rehash(slots_.empty() ? 16 : 2 * slots_.size());
    const Slot probe = MakeSlot(key, id);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot = probe;
        ++size_;
        return {id, true};
      }
      if (slot.Matches(probe)) return {slot.id, false};
    }
  }
  // Inserts keys[i] -> i for every i in order (the first of equal keys wins; empty keys are skipped
  // when `skip_empty`), hashing and prefetching a few keys ahead. Returns the index of the first key
  // that was already present, or -1. The keys must outlive the index.
  int32_t InsertAll(const std::vector<std::string>& keys, bool skip_empty) {
    constexpr size_t kAhead = 16;
    uint64_t hashes[kAhead];
    int32_t first_duplicate = -1;
    Reserve(size_ + keys.size());
    for (size_t i = 0; i < keys.size() + kAhead; ++i) {
      if (i >= kAhead) {
        const size_t j = i - kAhead;
        if (!(skip_empty && keys[j].empty()) &&
            !Insert(keys[j], static_cast<int32_t>(j), hashes[j % kAhead]).second && first_duplicate < 0) {
          first_duplicate = static_cast<int32_t>(j);
        }
      }
      if (i < keys.size()) {
        hashes[i % kAhead] = HashBytes(keys[i]);
        Prefetch(hashes[i % kAhead]);
      }
    }
    return first_duplicate;
  }
  // The id of `key`, or -1. `hash` must be HashBytes(key).
  int32_t Find(std::string_view key, uint64_t hash) const {
    if (slots_.empty()) return -1;
    const Slot probe = MakeSlot(key, -1);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.Matches(probe)) return slot.id;
    }
  }
  int32_t Find(std::string_view key) const { return Find(key, HashBytes(key)); }
  // Brings the first slot that a key of hash `hash` probes into the cache (for batched lookups).
  void Prefetch(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & mask_]);
  }
  size_t size() const { return size_; }

 private:
  // Keys compare by size and first 8 bytes in the slot; only longer keys read the key's bytes.
  struct Slot {
    const char* data = nullptr;
    uint32_t size = 0;
    int32_t id = -1;  // -1: empty
    uint64_t prefix = 0;
    bool Matches(const Slot& o) const {
      return size == o.size && prefix == o.prefix &&
             (size <= 8 || std::memcmp(data + 8, o.data + 8, size - 8) == 0);
    }
  };
  static Slot MakeSlot(std::string_view key, int32_t id) {
    return Slot{key.data(), static_cast<uint32_t>(key.size()), id, KeyPrefix(key)};
  }
  void Rehash(size_t cap) {
    std::vector<Slot> old(cap);
    old.swap(slots_);
    mask_ = cap - 1;
    for (const Slot& slot : old) {
      if (slot.id < 0) continue;
      size_t i = HashBytes({slot.data, slot.size}) & mask_;
      while (slots_[i].id >= 0) i = (i + 1) & mask_;
      slots_[i] = slot;
    }
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace flotilla
