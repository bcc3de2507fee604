#include "ps/thread_pool.h"

#include <algorithm>

namespace shoal::ps {

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) helpers_.emplace_back([this] { helperLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : helpers_) t.join();
}

// Takes pieces until none are left; called with mu_ unlocked.
void ThreadPool::runPieces() {
  for (;;) {
    size_t p;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (next_ >= pieces_) return;
      p = next_++;
    }
    size_t begin = p * piece_;
    (*fn_)(begin, std::min(count_, begin + piece_));
    std::lock_guard<std::mutex> g(mu_);
    if (++finished_ == pieces_) done_.notify_all();
  }
}

void ThreadPool::helperLoop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    runPieces();
  }
}

void ThreadPool::parallelFor(size_t count, size_t minPiece,
                             const std::function<void(size_t, size_t)>& fn) {
  if (count == 0) return;
  size_t n = static_cast<size_t>(threads());
  if (helpers_.empty() || count < 2 * minPiece) {
    fn(0, count);
    return;
  }
  size_t piece = std::max(minPiece, (count + n - 1) / n);
  piece = (piece + 63) / 64 * 64;  // whole cache lines for every element size
  {
    std::lock_guard<std::mutex> g(mu_);
    fn_ = &fn;
    count_ = count;
    piece_ = piece;
    pieces_ = (count + piece - 1) / piece;
    next_ = 0;
    finished_ = 0;
    ++generation_;
  }
  wake_.notify_all();
  runPieces();
  std::unique_lock<std::mutex> lk(mu_);
  done_.wait(lk, [&] { return finished_ == pieces_; });
  fn_ = nullptr;
}

}  // namespace shoal::ps
