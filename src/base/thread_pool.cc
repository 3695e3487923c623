#include "base/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FLOTILLA_PAUSE() _mm_pause()
#else
#define FLOTILLA_PAUSE() std::this_thread::yield()
#endif

namespace flotilla {
namespace {
constexpr int kSpinIterations = 1 << 14;   // pause-spins before yielding
constexpr int kYieldIterations = 1 << 10;  // yields before sleeping (workers only)
constexpr int64_t kChunksPerThread = 4;
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
  n_threads_ = n_threads < 1 ? 1 : n_threads;
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    cursor_.fetch_add(uint64_t{2} << 32);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunChunks(uint32_t generation) {
  uint64_t cur = cursor_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(cur >> 32) != generation) return;
    const int64_t chunk = static_cast<int64_t>(cur & 0xFFFFFFFFu);
    if (chunk >= n_chunks_) return;
    if (!cursor_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) continue;
    // The job cannot change while this chunk is unfinished, so job_ and job_n_ are this generation's.
    const int64_t begin = job_n_ * chunk / n_chunks_, end = job_n_ * (chunk + 1) / n_chunks_;
    if (begin < end) (*job_)(begin, end);
    chunks_done_.fetch_add(1, std::memory_order_acq_rel);
    cur = cursor_.load(std::memory_order_acquire);
  }
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n);
    return;
  }
  // Odd generations are "closed" while the job fields change: no claim can succeed then, not even
  // by a worker still looking at the previous job. Even generations are open jobs.
  uint32_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation = static_cast<uint32_t>(cursor_.load() >> 32) + 2;
    cursor_.store(static_cast<uint64_t>(generation - 1) << 32, std::memory_order_seq_cst);
    job_ = &fn;
    job_n_ = n;
    n_chunks_ = std::min<int64_t>(n, kChunksPerThread * n_threads_);
    chunks_done_.store(0, std::memory_order_relaxed);
    cursor_.store(static_cast<uint64_t>(generation) << 32, std::memory_order_release);
  }
  wake_.notify_all();
  RunChunks(generation);
  for (int spins = 0; chunks_done_.load(std::memory_order_acquire) != n_chunks_; ++spins) {
    if (spins < kSpinIterations) {
      FLOTILLA_PAUSE();
    } else {
      std::this_thread::yield();  // let a descheduled worker finish its chunk on this core
    }
  }
}

void ThreadPool::WorkerLoop() {
  uint32_t seen = 0;
  for (;;) {
    // The generation to wait for: a new, open (even) one.
    const auto current = [&] {
      const uint32_t g = static_cast<uint32_t>(cursor_.load(std::memory_order_acquire) >> 32);
      return (g & 1u) ? seen : g;
    };
    for (int spins = 0; current() == seen && spins < kSpinIterations + kYieldIterations; ++spins) {
      if (spins < kSpinIterations) {
        FLOTILLA_PAUSE();
      } else {
        std::this_thread::yield();
      }
    }
    if (current() == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return current() != seen; });
    }
    seen = current();
    if (stop_.load()) return;
    RunChunks(seen);
  }
}

}  // namespace flotilla
