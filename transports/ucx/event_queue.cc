#include "transports/ucx/event_queue.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace shoal::transport::ucx {

EventQueue::EventQueue(size_t capacity) : ring_(std::max<size_t>(capacity, 16)) {}

Event& EventQueue::append(Event::Kind kind, int peer) {
  if (count_ == ring_.size()) {
    std::vector<Event> bigger(ring_.size() * 2);
    for (size_t i = 0; i < count_; ++i) bigger[i] = ring_[(head_ + i) % ring_.size()];
    ring_.swap(bigger);
    head_ = 0;
  }
  Event& e = ring_[(head_ + count_) % ring_.size()];
  ++count_;
  e.kind = kind;
  e.peer = peer;
  e.imm = 0;
  e.cookie = 0;
  e.len = 0;
  e.code = 0;
  e.message[0] = '\0';
  return e;
}

void EventQueue::pushWrite(int peer, uint32_t imm) { append(Event::kWrite, peer).imm = imm; }

void EventQueue::pushCtrl(int peer, const void* payload, size_t len) {
  Event& e = append(Event::kCtrl, peer);
  e.len = static_cast<uint32_t>(std::min(len, Event::kMaxCtrl));
  if (e.len > 0) memcpy(e.payload, payload, e.len);
}

void EventQueue::pushSendDone(int peer, uint64_t cookie) {
  append(Event::kSendDone, peer).cookie = cookie;
}

void EventQueue::pushError(int peer, int code, const char* message) {
  Event& e = append(Event::kError, peer);
  e.code = code;
  snprintf(e.message, sizeof(e.message), "%s", message);
}

size_t EventQueue::drain(Event* out, size_t max) {
  size_t n = std::min(max, count_);
  for (size_t i = 0; i < n; ++i) out[i] = ring_[(head_ + i) % ring_.size()];
  head_ = (head_ + n) % ring_.size();
  count_ -= n;
  return n;
}

}  // namespace shoal::transport::ucx
