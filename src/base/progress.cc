#include "base/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace flotilla {
namespace {

constexpr const char* kByteUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};

// The largest binary unit in which `bytes` is at least 1 (B for 0).
int ByteUnitIndex(uint64_t bytes) {
  int i = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024.0 && i < 4) {
    v /= 1024.0;
    ++i;
  }
  return i;
}

std::string FormatIn(double value, int unit_index, bool with_unit) {
  char buf[64];
  double v = value / std::pow(1024.0, unit_index);
  if (unit_index == 0) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, v < 10 && unit_index >= 3 ? "%.2f" : "%.1f", v);
  }
  std::string s = buf;
  if (with_unit) s += std::string(" ") + kByteUnits[unit_index];
  return s;
}

std::string FormatCount(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f" : "%.1f", v);
  return buf;
}

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  return FormatIn(static_cast<double>(bytes), ByteUnitIndex(bytes), true);
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<uint64_t>(std::llround(seconds));
  char buf[64];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60));
  }
  return buf;
}

std::string FormatProgressLine(uint64_t done, uint64_t total, double rate_per_s, double seconds,
                               bool elapsed, ProgressUnit unit, std::string_view count_unit,
                               int bar_width) {
  std::string line;
  if (total > 0) {
    double frac = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
    int filled = static_cast<int>(frac * bar_width);
    line += '[';
    for (int i = 0; i < bar_width; ++i) {
      line += i < filled ? '=' : (i == filled ? '>' : ' ');
    }
    char pct[16];
    std::snprintf(pct, sizeof pct, "] %d%% ", static_cast<int>(frac * 100.0));
    line += pct;
  }
  // Appends piece by piece: GCC 12 warns (-Wrestrict, falsely) on "literal" + std::string here.
  auto add = [&line](std::string_view a, std::string_view b = {}) {
    line.append(a);
    line.append(b);
  };
  if (unit == ProgressUnit::kBytes) {
    int u = ByteUnitIndex(std::max(done, total));
    add(FormatIn(static_cast<double>(done), u, total == 0));
    if (total > 0) add("/", FormatIn(static_cast<double>(total), u, true));
    if (rate_per_s > 0) add(" ", FormatBytes(static_cast<uint64_t>(rate_per_s)) + "/s");
  } else {
    add(std::to_string(done));
    if (total > 0) add("/", std::to_string(total));
    add(" ", count_unit);
    if (rate_per_s > 0) {
      add(" ", FormatCount(rate_per_s));
      add(" ", count_unit);
      add("/s");
    }
  }
  if (seconds >= 0) add(elapsed ? " in " : " ETA ", FormatDuration(seconds));
  return line;
}

ProgressBar::ProgressBar(uint64_t total, ProgressOptions options)
    : options_(std::move(options)), total_(total), start_(Clock::now()), last_draw_(start_) {
  tty_ = options_.tty >= 0 ? options_.tty == 1 : ::isatty(::fileno(options_.out)) == 1;
}

ProgressBar::~ProgressBar() {
  if (drawn_) Finish();
}

void ProgressBar::SetTotal(uint64_t total) { total_ = total; }

void ProgressBar::SetBaseline(uint64_t done) {
  baseline_ = done;
  done_ = std::max(done_, done);
  start_ = Clock::now();
}

double ProgressBar::Rate(Clock::time_point now) const {
  double secs = std::chrono::duration<double>(now - start_).count();
  if (secs < 0.05 || done_ <= baseline_) return 0;
  return static_cast<double>(done_ - baseline_) / secs;
}

void ProgressBar::Update(uint64_t done) {
  if (finished_) return;
  done_ = done;
  Clock::time_point now = Clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  double interval = tty_ ? options_.redraw_interval_s : options_.plain_interval_s;
  if (since >= interval || (!drawn_ && tty_)) Draw(now, /*final=*/false);
}

void ProgressBar::Finish() {
  if (finished_) return;
  Draw(Clock::now(), /*final=*/true);
  finished_ = true;
}

void ProgressBar::Draw(Clock::time_point now, bool final) {
  double rate = Rate(now);
  double seconds = -1;
  if (final) {
    seconds = std::chrono::duration<double>(now - start_).count();
  } else if (total_ > 0 && rate > 0 && done_ <= total_) {
    seconds = static_cast<double>(total_ - done_) / rate;
  }
  std::string line = FormatProgressLine(done_, total_, rate, seconds, final, options_.unit,
                                        options_.count_unit, options_.bar_width);
  if (!options_.label.empty()) line = options_.label + " " + line;
  if (tty_) {
    // \r returns to the line start; \x1b[K clears what a longer previous line left behind.
    std::fprintf(options_.out, "\r%s\x1b[K%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(options_.out, "%s\n", line.c_str());
  }
  std::fflush(options_.out);
  drawn_ = true;
  last_draw_ = now;
}

}  // namespace flotilla
