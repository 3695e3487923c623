// A one-line progress bar for long work (downloads, training, quantization), drawn on a terminal:
//
//   model.gguf [=====>        ] 45% 12.3/27.0 MiB 5.1 MiB/s ETA 3s
//
// On a TTY the line is redrawn in place at most every `redraw_interval_s`. When the stream is not a TTY
// (a log file, a pipe) a plain line is printed at most every `plain_interval_s`, so logs stay short.
// Finish() draws the final state ("... in 5s" instead of the ETA) and ends the line.
// Not thread-safe: call it from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace flotilla {

enum class ProgressUnit {
  kBytes,  // done/total are bytes, shown as B, KiB, MiB or GiB
  kCount,  // done/total are items (steps, tensors), shown with ProgressOptions::count_unit
};

struct ProgressOptions {
  std::string label;              // shown before the bar; may be empty
  ProgressUnit unit = ProgressUnit::kBytes;
  std::string count_unit = "it";  // for kCount: "120/270 it 5.1 it/s"
  FILE* out = stderr;
  int tty = -1;                   // -1: ask isatty(out); 0 or 1 forces plain lines or redraws
  int bar_width = 30;             // characters between the brackets
  double redraw_interval_s = 0.1;
  double plain_interval_s = 10.0;
};

class ProgressBar {
 public:
  // `total` 0 means unknown: no bar, percentage or ETA, only the amount and rate.
  explicit ProgressBar(uint64_t total, ProgressOptions options = {});
  ~ProgressBar();  // Finish()es a bar that has been drawn
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void SetTotal(uint64_t total);
  // Marks `done` units as done before this run started (a resumed download): they count toward the
  // percentage but not toward the rate.
  void SetBaseline(uint64_t done);
  // Sets the absolute amount done; draws if enough time has passed since the last draw.
  void Update(uint64_t done);
  void Add(uint64_t n) { Update(done_ + n); }
  // Draws the final state and a newline. Idempotent; later Update()s are ignored.
  void Finish();

  uint64_t done() const { return done_; }
  uint64_t total() const { return total_; }

 private:
  using Clock = std::chrono::steady_clock;
  double Rate(Clock::time_point now) const;  // units per second since the start (baseline excluded)
  void Draw(Clock::time_point now, bool final);

  ProgressOptions options_;
  bool tty_ = false;
  uint64_t total_ = 0;
  uint64_t done_ = 0;
  uint64_t baseline_ = 0;
  bool drawn_ = false;
  bool finished_ = false;
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

// "999 B", "12.3 KiB", "4.0 MiB", "1.50 GiB".
std::string FormatBytes(uint64_t bytes);
// "3s", "2m05s", "1h02m"; "?" for negative or non-finite input.
std::string FormatDuration(double seconds);
// The line ProgressBar draws, without label: bar and percentage (when total > 0), amount, rate (when
// rate > 0) and then "ETA 3s" for `seconds` left, or "in 3s" when `elapsed`; no time when `seconds` < 0.
std::string FormatProgressLine(uint64_t done, uint64_t total, double rate_per_s, double seconds,
                               bool elapsed, ProgressUnit unit, std::string_view count_unit,
                               int bar_width);

}  // namespace flotilla
