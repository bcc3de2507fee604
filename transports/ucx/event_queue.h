// Events produced by UCX callbacks wait here until Context::poll hands them
// out. A ring that only grows (doubling) when a burst outruns it, so the steady
// state allocates nothing per message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "transports/context.h"

namespace shoal::transport::ucx {

class EventQueue {
 public:
  explicit EventQueue(size_t capacity);

  void pushWrite(int peer, uint32_t imm);
  void pushCtrl(int peer, const void* payload, size_t len);
  void pushSendDone(int peer, uint64_t cookie);
  void pushError(int peer, int code, const char* message);

  size_t drain(Event* out, size_t max);
  bool empty() const { return count_ == 0; }

 private:
  Event& append(Event::Kind kind, int peer);

  std::vector<Event> ring_;
  size_t head_ = 0;
  size_t count_ = 0;
};

}  // namespace shoal::transport::ucx
