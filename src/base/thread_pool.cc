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
constexpr int64_t kChunksPerThread = 128;  // claims halve from 64 down to 1: ~8 per thread per loop
constexpr int64_t kMaxChunks = 0xFFFF;  // a slot's chunk indices are 16 bits

constexpr uint64_t PackSlot(uint32_t generation, int64_t end, int64_t next) {
  return (uint64_t{generation} << 32) | (static_cast<uint64_t>(end) << 16) | static_cast<uint64_t>(next);
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
  n_threads_ = std::clamp(n_threads, 1, static_cast<int>(kMaxChunks / kChunksPerThread));
  slots_ = std::make_unique<Slot[]>(static_cast<size_t>(n_threads_));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(mutex_);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

int64_t ThreadPool::Claim(int s, uint32_t generation, int64_t* count) {
  std::atomic<uint64_t>& word = slots_[static_cast<size_t>(s)].word;
  uint64_t cur = word.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(cur >> 32) != generation) return -1;
    const int64_t next = static_cast<int64_t>(cur & 0xFFFF), end = static_cast<int64_t>((cur >> 16) & 0xFFFF);
    if (next >= end) return -1;
    *count = (end - next + 1) / 2;
    if (word.compare_exchange_weak(cur, cur + static_cast<uint64_t>(*count), std::memory_order_acq_rel)) return next;
  }
}

void ThreadPool::RunChunks(int self, uint32_t generation) {
  int64_t ran = 0;
  for (int k = 0; k < n_threads_; ++k) {
    const int s = (self + k) % n_threads_;
    for (int64_t first, count; (first = Claim(s, generation, &count)) >= 0; ran += count) {
      // The loop cannot change while these chunks are unfinished, so job_ and the sizes are this
      // generation's (the claim's acquire orders them after the caller's writes).
      const int64_t begin = job_n_ * first / n_chunks_, end = job_n_ * (first + count) / n_chunks_;
      if (begin < end) (*job_)(begin, end);
    }
  }
  if (ran > 0) finished_.fetch_add(ran, std::memory_order_acq_rel);
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n);
    return;
  }
  // Every chunk of the previous loop is finished, so no thread reads these fields now, and a late
  // thread's claims fail on the generation.
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  job_ = &fn;
  job_n_ = n;
  n_chunks_ = std::min<int64_t>(n, kChunksPerThread * n_threads_);
  finished_.store(0, std::memory_order_relaxed);
  for (int s = 0; s < n_threads_; ++s) {
    slots_[static_cast<size_t>(s)].word.store(
        PackSlot(generation, n_chunks_ * (s + 1) / n_threads_, n_chunks_ * s / n_threads_), std::memory_order_release);
  }
  generation_.store(generation, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    // A worker counted itself a sleeper before checking the generation under the lock, so taking
    // the lock here means it is either waiting (and gets the notify) or saw the new generation.
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  RunChunks(0, generation);
  for (int spins = 0; finished_.load(std::memory_order_acquire) != n_chunks_; ++spins) {
    if (spins < kSpinIterations) {
      FLOTILLA_PAUSE();
    } else {
      std::this_thread::yield();  // let a descheduled worker finish its chunk on this core
    }
  }
}

void ThreadPool::WorkerLoop(int self) {
  uint32_t seen = 0;
  for (;;) {
    const auto changed = [&] { return generation_.load(std::memory_order_acquire) != seen; };
    for (int spins = 0; !changed() && spins < kSpinIterations + kYieldIterations; ++spins) {
      if (spins < kSpinIterations) {
        FLOTILLA_PAUSE();
      } else {
        std::this_thread::yield();
      }
    }
    if (!changed()) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      // seq_cst pairs with the caller's store of the generation and load of sleepers_: one of the
      // two threads sees the other's write.
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    RunChunks(self, seen);
  }
}

}  // namespace flotilla
