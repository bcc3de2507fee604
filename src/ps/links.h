// Ordered sending to every peer. The protocol needs a peer to see this rank's
// writes and control messages in the order they were issued, but a transport
// may refuse one for lack of resources; whatever it refuses waits here, with
// everything issued after it, until progress frees room.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "ps/wire.h"
#include "transports/context.h"

namespace shoal::ps {

class Links {
 public:
  explicit Links(transport::Context& ctx) : ctx_(ctx), queues_(ctx.size()) {}

  void sendCtrl(int peer, const void* msg, size_t len);
  void write(int peer, const void* src, size_t len, const transport::RemoteKey& dst,
             size_t dstOffset, uint32_t imm, uint64_t cookie);
  // Hands queued items to the transport. Returns whether any went out.
  bool flush();
  // A peer whose transport call threw: its queue is dropped, later sends to
  // it are ignored, and the failure waits here for the caller to handle.
  struct Failure {
    int peer;
    std::string why;
  };
  std::vector<Failure> takeFailures();
  void markDead(int peer);
  bool idle() const;

 private:
  struct Item {
    bool isWrite;
    uint8_t msg[kMaxMsg];
    size_t len;
    const void* src;
    transport::RemoteKey key;
    size_t offset;
    uint32_t imm;
    uint64_t cookie;
  };
  bool trySend(int peer, const Item& it);
  void enqueue(int peer, const Item& it);

  transport::Context& ctx_;
  std::vector<std::deque<Item>> queues_;
  std::vector<uint8_t> dead_ = std::vector<uint8_t>(queues_.size(), 0);
  std::vector<Failure> failures_;
};

}  // namespace shoal::ps
