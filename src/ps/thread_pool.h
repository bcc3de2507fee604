// The server's helpers for aggregation and updates: a fixed set of threads
// that split one large element range with the calling thread. Small ranges run
// on the caller alone (waking threads costs more than they save).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shoal::ps {

class ThreadPool {
 public:
  // threads: total including the caller; 1 runs everything inline.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // fn(begin, end) over [0, count) in pieces of at least minPiece elements;
  // returns when all are done.
  void parallelFor(size_t count, size_t minPiece, const std::function<void(size_t, size_t)>& fn);
  int threads() const { return static_cast<int>(helpers_.size()) + 1; }

 private:
  void helperLoop();
  void runPieces();

  std::vector<std::thread> helpers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(size_t, size_t)>* fn_ = nullptr;
  size_t count_ = 0, piece_ = 0, next_ = 0, finished_ = 0, pieces_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace shoal::ps
