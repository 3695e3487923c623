#include "base/huge_page_buffer.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace flotilla {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

StatusOr<HugePageBuffer> HugePageBuffer::Allocate(size_t bytes) {
  HugePageBuffer buf;
  if (bytes == 0) return buf;
  const size_t mapped = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  // Map one huge page more than needed and trim both ends to a 2 MiB-aligned range.
  const size_t over = mapped + kHugePage;
  void* raw = MAP_FAILED;
  int err = ENOMEM;  // also when rounding up overflowed
  if (over > bytes) {
    raw = ::mmap(nullptr, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    err = errno;
  }
  if (raw == MAP_FAILED) {
    return ResourceExhaustedError("cannot map " + std::to_string(bytes) + " bytes of memory: " + std::strerror(err));
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t tail = start + over - (aligned + mapped);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + mapped), tail);
  buf.data_ = reinterpret_cast<uint8_t*>(aligned);
  buf.size_ = bytes;
  buf.mapped_ = mapped;
#ifdef MADV_HUGEPAGE
  ::madvise(buf.data_, mapped, MADV_HUGEPAGE);  // advice only: without THP the pages are 4 KiB
#endif
  return buf;
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
