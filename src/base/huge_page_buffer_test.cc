#include "base/huge_page_buffer.h"

#include <cstdint>
#include <string>
#include <utility>

#include <gtest/gtest.h>

namespace flotilla {
namespace {

TEST(HugePageBuffer, ZeroedWritableAndAlignedForOddSizes) {
  for (size_t bytes : {size_t{1}, size_t{4095}, size_t{2} << 20, (size_t{5} << 20) + 3}) {
    StatusOr<HugePageBuffer> allocated = HugePageBuffer::Allocate(bytes);
    ASSERT_TRUE(allocated.ok()) << allocated.status().message();
    HugePageBuffer buf = std::move(*allocated);
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
  HugePageBuffer empty = std::move(*HugePageBuffer::Allocate(0));
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_EQ(empty.size(), 0u);
  HugePageBuffer a = std::move(*HugePageBuffer::Allocate(100));
  a.data()[99] = 7;
  uint8_t* const p = a.data();
  HugePageBuffer b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.data()[99], 7);
  HugePageBuffer c = std::move(*HugePageBuffer::Allocate(10));
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.size(), 100u);
}

TEST(HugePageBuffer, TooLargeIsAnError) {
  for (size_t bytes : {SIZE_MAX, SIZE_MAX / 2, size_t{1} << 60}) {
    StatusOr<HugePageBuffer> buf = HugePageBuffer::Allocate(bytes);
    ASSERT_FALSE(buf.ok()) << bytes;
    EXPECT_EQ(buf.status().code(), StatusCode::kResourceExhausted);
    EXPECT_NE(buf.status().message().find("cannot map"), std::string::npos) << buf.status().message();
  }
}

}  // namespace
}  // namespace flotilla
