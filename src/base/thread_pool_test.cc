#include "base/thread_pool.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace flotilla {
namespace {

TEST(ThreadPool, CoversEveryIndexOnceForManySizes) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 3, 7, 64, 1001}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.ParallelFor(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << threads << " " << n;
    }
  }
}

TEST(ThreadPool, ManyShortJobsInARow) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 20000; ++round) {
    pool.ParallelFor(4, [&](int64_t b, int64_t e) { sum += e - b; });
  }
  EXPECT_EQ(sum.load(), 80000);
}

// Workers that found no work for a while block on the condition variable; a new loop must wake them
// (the caller only takes the lock when one sleeps).
TEST(ThreadPool, WakesSleepingWorkers) {
  ThreadPool pool(3);
  for (int round = 0; round < 4; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    std::mutex mutex;
    std::set<std::thread::id> ran_on;
    std::atomic<int64_t> sum{0};
    pool.ParallelFor(12, [&](int64_t b, int64_t e) {
      sum += e - b;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // long enough for every worker to join
      std::lock_guard<std::mutex> lock(mutex);
      ran_on.insert(std::this_thread::get_id());
    });
    EXPECT_EQ(sum.load(), 12);
    EXPECT_GE(ran_on.size(), 2u) << "round " << round;
  }
}

// One thread stuck in a call must not keep the others from finishing the rest: they take what is
// left in its share. The call holding index 0 (the caller's first claim) waits until every index
// outside it was run by another call (or 10 s passed).
TEST(ThreadPool, OthersTakeTheChunksOfASlowThread) {
  ThreadPool pool(2);
  for (int64_t n : {8, 100, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    std::atomic<int64_t> slow_size{-1}, others{0}, others_while_slow{-1};
    pool.ParallelFor(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      if (b == 0) {
        slow_size = e - b;
        for (int ms = 0; ms < 10000 && others.load() < n - (e - b); ++ms) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        others_while_slow = others.load();
      } else {
        others += e - b;
      }
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
    EXPECT_LT(slow_size.load(), n / 2) << n;  // a claim is at most half a thread's share
    EXPECT_EQ(others_while_slow.load(), n - slow_size.load()) << n;
  }
}

TEST(ThreadPool, MoreThreadsThanCores) {
  ThreadPool pool(8);
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 2000; ++round) {
    pool.ParallelFor(round % 50, [&](int64_t b, int64_t e) { sum += e - b; });
  }
  int64_t want = 0;
  for (int round = 0; round < 2000; ++round) want += round % 50;
  EXPECT_EQ(sum.load(), want);
}

}  // namespace
}  // namespace flotilla
