#include "base/progress.h"

#include <cstdio>
#include <thread>

#include <gtest/gtest.h>

namespace flotilla {
namespace {

TEST(ProgressFormatTest, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(999), "999 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(4 << 20), "4.0 MiB");
  EXPECT_EQ(FormatBytes(3ull << 29), "1.50 GiB");
}

TEST(ProgressFormatTest, Durations) {
  EXPECT_EQ(FormatDuration(3.2), "3s");
  EXPECT_EQ(FormatDuration(125), "2m05s");
  EXPECT_EQ(FormatDuration(3720), "1h02m");
  EXPECT_EQ(FormatDuration(-1), "?");
}

TEST(ProgressFormatTest, BarLine) {
  const uint64_t mib = 1 << 20;
  EXPECT_EQ(FormatProgressLine(45 * mib / 10, 10 * mib, 5.1 * mib, 3, false, ProgressUnit::kBytes, "it", 10),
            "[====>     ] 45% 4.5/10.0 MiB 5.1 MiB/s ETA 3s");
  EXPECT_EQ(FormatProgressLine(10 * mib, 10 * mib, 0, 7, true, ProgressUnit::kBytes, "it", 4),
            "[====] 100% 10.0/10.0 MiB in 7s");
  EXPECT_EQ(FormatProgressLine(3 * mib, 0, mib, -1, false, ProgressUnit::kBytes, "it", 10), "3.0 MiB 1.0 MiB/s");
  EXPECT_EQ(FormatProgressLine(12, 48, 2.5, 14, false, ProgressUnit::kCount, "steps", 4),
            "[=>  ] 25% 12/48 steps 2.5 steps/s ETA 14s");
}

std::string Captured(FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  for (int c; (c = std::fgetc(f)) != EOF;) s.push_back(static_cast<char>(c));
  return s;
}

TEST(ProgressBarTest, TtyRedrawsInPlaceAndEndsWithNewline) {
  FILE* f = std::tmpfile();
  {
    ProgressOptions o;
    o.out = f;
    o.tty = 1;
    o.label = "m.gguf";
    o.redraw_interval_s = 0;
    ProgressBar bar(100, o);
    bar.Update(10);
    bar.Update(50);
    bar.Update(100);
  }  // the destructor finishes
  std::string s = Captured(f);
  std::fclose(f);
  EXPECT_EQ(s.rfind("\rm.gguf [", 0), 0u) << s;
  EXPECT_NE(s.find(" 50% "), std::string::npos) << s;
  EXPECT_NE(s.find("100% 100/100 B in "), std::string::npos) << s;
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
}

TEST(ProgressBarTest, NonTtyPrintsOnlyOccasionalPlainLines) {
  FILE* f = std::tmpfile();
  ProgressOptions o;
  o.out = f;
  o.tty = 0;
  ProgressBar bar(1000, o);
  for (int i = 0; i <= 1000; ++i) bar.Update(i);
  bar.Finish();
  bar.Finish();  // idempotent
  std::string s = Captured(f);
  std::fclose(f);
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1) << s;
}

TEST(ProgressBarTest, RedrawIsThrottled) {
  FILE* f = std::tmpfile();
  ProgressOptions o;
  o.out = f;
  o.tty = 1;
  o.redraw_interval_s = 10;
  ProgressBar bar(0, o);
  for (int i = 0; i < 1000; ++i) bar.Add(1);
  bar.Finish();
  std::string s = Captured(f);
  std::fclose(f);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\r'), 2) << s;  // the first draw and the final one
}

}  // namespace
}  // namespace flotilla
