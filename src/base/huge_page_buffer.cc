#include "base/huge_page_buffer.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace flotilla {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

HugePageBuffer::HugePageBuffer(size_t bytes) {
  if (bytes == 0) return;
  mapped_ = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  // Map one huge page more than needed and trim both ends to a 2 MiB-aligned range.
  const size_t over = mapped_ + kHugePage;
  void* raw = ::mmap(nullptr, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    std::fprintf(stderr, "flotilla: cannot map %zu bytes of memory\n", over);
    std::abort();
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t tail = start + over - (aligned + mapped_);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + mapped_), tail);
  data_ = reinterpret_cast<uint8_t*>(aligned);
  size_ = bytes;
#ifdef MADV_HUGEPAGE
  ::madvise(data_, mapped_, MADV_HUGEPAGE);  // advice only: without THP the pages are 4 KiB
#endif
}

HugePageBuffer::HugePageBuffer(HugePageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& other) noexcept {
  if (this != &other) {
    if (data_) ::munmap(data_, mapped_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

HugePageBuffer::~HugePageBuffer() {
  if (data_) ::munmap(data_, mapped_);
}

}  // namespace flotilla
