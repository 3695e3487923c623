// Anonymous memory for large arrays streamed at memory bandwidth (a model's weights), backed by
// transparent huge pages where the kernel allows them. With 4 KiB pages a 500 MB model needs 128 k
// page-table entries, more than the TLB and caches hold, so a stream through it pays a page walk per
// 4 KiB; with 2 MiB pages it needs 250.
#pragma once

#include <cstddef>
#include <cstdint>

#include "flotilla/status.h"

namespace flotilla {

class HugePageBuffer {
 public:
  HugePageBuffer() = default;
  // `bytes` of zeroed memory aligned to 2 MiB; pages are taken when first written. RESOURCE_EXHAUSTED
  // when the system will not map that much (a memory limit, an exhausted address space).
  static StatusOr<HugePageBuffer> Allocate(size_t bytes);
  HugePageBuffer(HugePageBuffer&& other) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  ~HugePageBuffer();

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // bytes mapped from data_ (size_ rounded up to whole huge pages)
};

}  // namespace flotilla
