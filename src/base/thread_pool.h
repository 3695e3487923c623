// A fixed pool of worker threads for data-parallel loops. The calling thread takes part, so a pool
// of n threads starts n - 1 workers. Token-by-token decoding runs hundreds of short loops per token,
// so a loop's start and finish touch as few shared cache lines as possible:
// - Each thread owns a slot (one cache line) holding its contiguous share of the loop's chunks and
//   claims them from it without contention, half of what is left at a time. A thread whose share is
//   done takes from what is left in the others' slots, likewise by halves, so threads finish within
//   about one chunk (1/128 of a thread's share: at the end of a loop one thread waits for the other's
//   last claim, so the final claims are kept small) of each other, and a thread the OS has descheduled (a
//   busy machine) delays a loop by at most what it claimed last.
// - A thread reports the chunks it ran once per loop, on one counter the caller waits on.
// - Waiting threads spin briefly, then yield, then sleep; the caller takes the lock to wake them only
//   when one sleeps.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
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
  // call ParallelFor on the same pool, and one thread at a time may call it.
  void ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  // A thread's share of the current loop, packed in one word so that a claim sees the three fields
  // together: generation (high 32 bits), end chunk (bits 16-31), next unclaimed chunk (bits 0-15).
  // A claim is a CAS that checks the generation, so a late thread can never take a chunk of a
  // newer loop by mistake.
  struct alignas(64) Slot {
    std::atomic<uint64_t> word{0};
  };

  void WorkerLoop(int self);
  // Runs chunks of loop `generation`, own slot first, then the others'; adds the count to finished_.
  void RunChunks(int self, uint32_t generation);
  // Claims the first half (rounded up) of the chunks left in slot s in loop `generation`: returns
  // the first and sets *count; -1 when the slot has none left. Claims shrink as a loop ends, so
  // threads finish close together with few claims.
  int64_t Claim(int s, uint32_t generation, int64_t* count);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::unique_ptr<Slot[]> slots_;  // [n_threads_]; slot 0 is the caller's
  // The current loop, written by the caller before it publishes generation_ and unchanged until
  // every chunk of it is finished.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t n_chunks_ = 0;
  alignas(64) std::atomic<uint32_t> generation_{0};  // what workers wait on
  alignas(64) std::atomic<int64_t> finished_{0};      // chunks of the current loop done
  alignas(64) std::atomic<int> sleepers_{0};          // workers blocked on wake_
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace flotilla
