// Every wait in shoal has a deadline; this is the one clock they share.
#pragma once

#include <chrono>
#include <cstdint>

namespace shoal {

using Clock = std::chrono::steady_clock;

class Deadline {
 public:
  static Deadline after(double seconds) { return at(Clock::now(), seconds); }
  static Deadline at(Clock::time_point start, double seconds) {
    Deadline d;
    d.at_ =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    return d;
  }
  // SHOAL_TIMEOUT from now.
  static Deadline fromConfig();
  bool expired() const { return Clock::now() >= at_; }
  // Milliseconds left, clamped at 0, for poll(2)-style calls.
  int remainingMs() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now()).count();
    return left < 0 ? 0 : (left > 0x7fffffff ? 0x7fffffff : static_cast<int>(left));
  }
  Clock::time_point at() const { return at_; }

 private:
  Clock::time_point at_{};
};

}  // namespace shoal
