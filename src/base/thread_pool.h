// A fixed pool of worker threads for data-parallel loops. The calling thread takes part, so a pool
// of n threads starts n - 1 workers. Work is cut into chunks that threads claim from one atomic
// counter, so a thread the OS has descheduled (a busy machine) delays a loop by at most one chunk.
// Waiting threads spin briefly (token-by-token decoding runs hundreds of short loops per token), then
// yield, then sleep.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flotilla {

class ThreadPool {
 public:
  // n_threads <= 0 means one per hardware thread.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // Calls fn(begin, end) on disjoint, contiguous ranges covering [0, n) — a few per thread, in any
  // order, any thread may run several — and returns when all are done. Not reentrant: fn must not
  // call ParallelFor on the same pool.
  void ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void WorkerLoop();
  // Claims and runs chunks of job `generation` until none are left.
  void RunChunks(uint32_t generation);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  // High 32 bits: job generation; low 32 bits: next unclaimed chunk. Claiming is a CAS that checks
  // the generation, so a late worker can never take a chunk of a newer job by mistake.
  std::atomic<uint64_t> cursor_{0};
  std::atomic<int64_t> chunks_done_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t n_chunks_ = 0;
};

}  // namespace flotilla
