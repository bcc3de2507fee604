#include "ps/links.h"

#include <cstring>

#include "core/error.h"

namespace shoal::ps {

bool Links::trySend(int peer, const Item& it) {
  transport::Pair& p = ctx_.pair(peer);
  if (it.isWrite) return p.write(it.src, it.len, it.key, it.offset, it.imm, it.cookie);
  return p.sendCtrl(it.msg, it.len);
}

void Links::markDead(int peer) {
  dead_[static_cast<size_t>(peer)] = 1;
  queues_[static_cast<size_t>(peer)].clear();
}

void Links::enqueue(int peer, const Item& it) {
  auto& q = queues_[static_cast<size_t>(peer)];
  if (dead_[static_cast<size_t>(peer)]) return;
  try {
    if (q.empty() && trySend(peer, it)) return;
  } catch (const Error& e) {
    failures_.push_back({peer, e.what()});
    markDead(peer);
    return;
  }
  q.push_back(it);
}

void Links::sendCtrl(int peer, const void* msg, size_t len) {
  Item it{};
  it.isWrite = false;
  memcpy(it.msg, msg, len);
  it.len = len;
  enqueue(peer, it);
}

void Links::write(int peer, const void* src, size_t len, const transport::RemoteKey& dst,
                  size_t dstOffset, uint32_t imm, uint64_t cookie) {
  Item it{};
  it.isWrite = true;
  it.src = src;
  it.len = len;
  it.key = dst;
  it.offset = dstOffset;
  it.imm = imm;
  it.cookie = cookie;
  enqueue(peer, it);
}

bool Links::flush() {
  bool progress = false;
  for (size_t p = 0; p < queues_.size(); ++p) {
    auto& q = queues_[p];
    try {
      while (!q.empty() && trySend(static_cast<int>(p), q.front())) {
        q.pop_front();
        progress = true;
      }
    } catch (const Error& e) {
      failures_.push_back({static_cast<int>(p), e.what()});
      markDead(static_cast<int>(p));
    }
  }
  return progress;
}

std::vector<Links::Failure> Links::takeFailures() {
  std::vector<Failure> out;
  out.swap(failures_);
  return out;
}

bool Links::idle() const {
  for (const auto& q : queues_) {
    if (!q.empty()) return false;
  }
  return true;
}

}  // namespace shoal::ps
