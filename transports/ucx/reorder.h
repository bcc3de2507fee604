// Puts one peer's sequenced UCX messages back in issue order. UCP does not
// promise that active messages arrive in the order sent, so each carries a
// sequence number; early ones wait here, at most `max` of them
// (SHOAL_UCX_REORDER_MAX), so that a peer cannot make this side hold its
// messages without bound. Free of UCX, so fuzz/ucx_wire_fuzz.cc drives the
// very code UcxPair::onMessage runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "transports/ucx/wire.h"

namespace shoal::transport::ucx {

class Reorder {
 public:
  enum class Verdict {
    kDelivered,  // h was the next one: it and the held ones after it were handed out
    kHeld,       // h is early and waits for the ones before it
    kDuplicate,  // h's number was handed out already: dropped
    kOverrun,    // h is early and `max` others wait already: refused
  };

  explicit Reorder(size_t max) : max_(max) {}

  // Takes message h with its h.len payload bytes. deliver(header, payload)
  // is called for each message handed out, in sequence order; a held copy's
  // payload lives until deliver returns.
  template <class Deliver>
  Verdict offer(const WireHeader& h, const uint8_t* payload, Deliver&& deliver) {
    if (h.seq != expected_) {
      if (static_cast<int32_t>(h.seq - expected_) < 0) return Verdict::kDuplicate;
      if (early_.size() >= max_ && early_.count(h.seq) == 0) return Verdict::kOverrun;
      std::vector<uint8_t>& keep = early_[h.seq];
      keep.resize(sizeof(h) + h.len);
      memcpy(keep.data(), &h, sizeof(h));
      if (h.len > 0) memcpy(keep.data() + sizeof(h), payload, h.len);
      return Verdict::kHeld;
    }
    deliver(h, payload);
    ++expected_;
    for (auto it = early_.find(expected_); it != early_.end(); it = early_.find(expected_)) {
      WireHeader held;
      memcpy(&held, it->second.data(), sizeof(held));
      deliver(held, it->second.data() + sizeof(held));
      early_.erase(it);
      ++expected_;
    }
    return Verdict::kDelivered;
  }

  uint32_t expected() const { return expected_; }
  size_t held() const { return early_.size(); }
  size_t max() const { return max_; }
  void clear() { early_.clear(); }

 private:
  uint32_t expected_ = 0;
  std::map<uint32_t, std::vector<uint8_t>> early_;
  size_t max_;
};

}  // namespace shoal::transport::ucx
