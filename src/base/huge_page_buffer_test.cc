#include "base/huge_page_buffer.h"

#include <cstdint>
#include <utility>

#include <gtest/gtest.h>

namespace flotilla {
namespace {

TEST(HugePageBuffer, ZeroedWritableAndAlignedForOddSizes) {
  for (size_t bytes : {size_t{1}, size_t{4095}, size_t{2} << 20, (size_t{5} << 20) + 3}) {
    HugePageBuffer buf(bytes);
    ASSERT_NE(buf.data(), nullptr);
    EXPECT_EQ(buf.size(), bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buf.data()) % (size_t{2} << 20), 0u);
    for (size_t i = 0; i < bytes; i += 4096) EXPECT_EQ(buf.data()[i], 0);
    EXPECT_EQ(buf.data()[bytes - 1], 0);
    buf.data()[0] = 1;
    buf.data()[bytes - 1] = 2;
    EXPECT_EQ(buf.data()[bytes - 1], 2);
  }
}

TEST(HugePageBuffer, EmptyAndMoved) {
  HugePageBuffer empty(0);
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_EQ(empty.size(), 0u);
  HugePageBuffer a(100);
  a.data()[99] = 7;
  uint8_t* const p = a.data();
  HugePageBuffer b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.data()[99], 7);
  HugePageBuffer c(10);
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.size(), 100u);
}

}  // namespace
}  // namespace flotilla
