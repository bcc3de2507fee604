// What one in-order UCX message from a peer becomes on this side: an event
// for Context::poll, a small write copied into place, or the peer's goodbye.
// Free of UCX (the event queue and the buffer list are plain data), so
// fuzz/ucx_wire_fuzz.cc drives the very code UcxPair::deliver runs.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "transports/ucx/event_queue.h"
#include "transports/ucx/regions.h"
#include "transports/ucx/wire.h"

namespace shoal::transport::ucx {

// h passed decodeWireHeader and payload holds its h.len bytes. A small write
// lands only inside a live buffer of `regions`; one aimed anywhere else
// becomes an error event naming the peer. Returns true for the peer's kBye.
inline bool deliverMessage(const WireHeader& h, const uint8_t* payload, int me, int peer,
                           EventQueue& events, RegionSet& regions) {
  switch (h.kind) {
    case MsgKind::kWrite:
      events.pushWrite(peer, h.imm);
      return false;
    case MsgKind::kCtrl:
      events.pushCtrl(peer, payload, h.len);
      return false;
    case MsgKind::kWriteInline:
      if (!regions.covers(h.addr, h.len)) {
        std::string msg = strprintf(
            "rank %d: UCX small write of %u bytes from peer %d to 0x%llx is outside every buffer "
            "this rank registered (hint: a stale or foreign remote key on rank %d)",
            me, h.len, peer, static_cast<unsigned long long>(h.addr), peer);
        SHOAL_WARN(UCX, "%s", msg.c_str());
        events.pushError(peer, shoalRemoteError, msg.c_str());
        return false;
      }
      if (h.len > 0) memcpy(reinterpret_cast<void*>(h.addr), payload, h.len);
      events.pushWrite(peer, h.imm);
      return false;
    case MsgKind::kBye:
      SHOAL_TRACE(UCX, "rank %d: peer %d is closing", me, peer);
      return true;
    default:
      SHOAL_WARN(UCX, "rank %d: UCX message of unknown kind %d from peer %d ignored", me,
                 static_cast<int>(h.kind), peer);
      return false;
  }
}

}  // namespace shoal::transport::ucx
