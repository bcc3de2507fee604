// SHOAL_WATCHDOG: a warning, once per collective, when a collective has run
// longer than a threshold, naming the ranks it still waits for. Checked from
// the executor's wait loop, which keeps running (and so keeps checking) for as
// long as a collective is stuck; the warning shows a hang long before the
// deadline turns it into an error.
#pragma once

#include "core/deadline.h"

namespace shoal {

class Watchdog {
 public:
  // Threshold from SHOAL_WATCHDOG (seconds; 0 or less turns it off).
  Watchdog();
  explicit Watchdog(double seconds) : seconds_(seconds) {}

  bool enabled() const { return seconds_ > 0; }
  double seconds() const { return seconds_; }
  // A new collective starts.
  void arm(Clock::time_point start) {
    start_ = start;
    fired_ = false;
  }
  // True exactly once per collective, the first time it is checked past the
  // threshold.
  bool due(Clock::time_point now) {
    if (fired_ || !enabled()) return false;
    if (now - start_ < std::chrono::duration<double>(seconds_)) return false;
    fired_ = true;
    return true;
  }

 private:
  double seconds_ = 0;
  Clock::time_point start_{};
  bool fired_ = false;
};

}  // namespace shoal
