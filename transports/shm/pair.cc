#include "transports/shm/pair.h"

#include <sys/uio.h>

#include <cstring>

#include "core/error.h"
#include "transports/shm/context.h"

namespace shoal::transport::shm {

bool ShmPair::write(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset,
                    uint32_t imm, uint64_t cookie) {
  MailboxQueue& q = ctx_.outbox(peer_);
  // Check for room first so a false return has no side effects.
  if (!q.hasRoom(tailSeen_)) return false;
  KeyData kd;
  if (dst.len != sizeof(kd))
    fail(shoalInternalError, "shm: write to peer %d with a foreign key", peer_);
  memcpy(&kd, dst.bytes, sizeof(kd));
  if (dstOffset > dst.size || len > dst.size - dstOffset) {
    fail(shoalInvalidArgument,
         "shm: write of %zu bytes at offset %zu past the end of peer %d's %llu-byte region", len,
         dstOffset, peer_, static_cast<unsigned long long>(dst.size));
  }
  if (len > 0) {
    if (kd.kind == KeyKind::kSegment) {
      char* base = static_cast<char*>(ctx_.peerSegment(peer_, kd.pid, kd.fd, kd.segBytes));
      memcpy(base + dstOffset, src, len);
    } else {
      // Cross-memory attach: the kernel copies straight into the peer's pages.
      struct iovec local = {const_cast<void*>(src), len};
      struct iovec remote = {reinterpret_cast<void*>(dst.addr + dstOffset), len};
      ssize_t n = process_vm_writev(kd.pid, &local, 1, &remote, 1, 0);
      if (n != static_cast<ssize_t>(len)) {
        failErrno("shm: process_vm_writev of %zu bytes to peer %d (pid %d) returned %zd", len,
                  peer_, kd.pid, n);
      }
    }
  }
  q.push(Event::kWrite, imm, nullptr, 0);
  ctx_.ring(peer_);
  if (cookie != 0) {
    Event e{};
    e.kind = Event::kSendDone;
    e.peer = peer_;
    e.cookie = cookie;
    ctx_.pushLocal(e);
  }
  return true;
}

bool ShmPair::sendCtrl(const void* msg, size_t len) {
  if (len > Event::kMaxCtrl) {
    fail(shoalInternalError, "shm: control message of %zu bytes to peer %d exceeds %zu", len, peer_,
         Event::kMaxCtrl);
  }
  MailboxQueue& q = ctx_.outbox(peer_);
  if (!q.hasRoom(tailSeen_)) return false;
  q.push(Event::kCtrl, 0, msg, static_cast<uint32_t>(len));
  ctx_.ring(peer_);
  return true;
}

}  // namespace shoal::transport::shm
