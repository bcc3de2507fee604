#include "transports/shm/pair.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "transports/shm/context.h"

namespace shoal::transport::shm {

bool ShmPair::write(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset,
                    uint32_t imm, uint64_t cookie) {
  return writeWithNote(src, len, dst, dstOffset, imm, cookie, nullptr, 0);
}

bool ShmPair::writeWithNote(const void* src, size_t len, const RemoteKey& dst, size_t dstOffset,
                            uint32_t imm, uint64_t cookie, const void* note, size_t noteLen) {
  MailboxQueue& q = ctx_.outbox(peer_);
  // Check for room first so a false return has no side effects.
  if (!q.hasRoom(tailSeen_)) return false;
  KeyData kd;
  if (dst.len != sizeof(kd))
    fail(shoalInternalError, "shm: write to peer %d with a foreign key", peer_);
  if (noteLen > Event::kMaxCtrl) {
    fail(shoalInternalError, "shm: note of %zu bytes to peer %d exceeds %zu", noteLen, peer_,
         Event::kMaxCtrl);
  }
  memcpy(&kd, dst.bytes, sizeof(kd));
  if (dstOffset > dst.size || len > dst.size - dstOffset) {
    fail(shoalInvalidArgument,
         "shm: write of %zu bytes at offset %zu past the end of peer %d's %llu-byte region", len,
         dstOffset, peer_, static_cast<unsigned long long>(dst.size));
  }
  MailboxEntry& e = q.next();
  e.flags = 0;
  if (len > 0 && len <= kEntryBody - noteLen) {
    // Small enough to ride in the entry: the peer copies it into place, so
    // the data crosses between cores in the entry's own cache lines.
    e.flags = MailboxEntry::kInline;
    e.addr = dst.addr + dstOffset;
    memcpy(e.body + noteLen, src, len);
  } else if (len > 0) {
    if (kd.kind == KeyKind::kSegment) {
      char* base = static_cast<char*>(ctx_.peerSegment(peer_, kd.pid, kd.fd, kd.segBytes));
      memcpy(base + dstOffset, src, len);
      // A small slot write is read right after its entry: its lines too.
      if (ctx_.demotes() && len <= kDemoteMaxBytes) {
        const uintptr_t first = reinterpret_cast<uintptr_t>(base + dstOffset) & ~uintptr_t{63};
        const uintptr_t end = reinterpret_cast<uintptr_t>(base + dstOffset + len);
        for (uintptr_t a = first; a < end; a += 64) demoteLine(reinterpret_cast<const void*>(a));
      }
    } else {
      // Cross-memory attach: the kernel copies straight into the peer's pages.
      // Only into the process this pair connected to, whatever a key says.
      if (kd.pid != ctx_.peerPid(peer_)) {
        fail(shoalRemoteError, "shm: key from peer %d names process %d, not the peer's %d", peer_,
             kd.pid, static_cast<int>(ctx_.peerPid(peer_)));
      }
      struct iovec local = {const_cast<void*>(src), len};
      struct iovec remote = {reinterpret_cast<void*>(dst.addr + dstOffset), len};
      ssize_t n = process_vm_writev(kd.pid, &local, 1, &remote, 1, 0);
      if (n < 0 && errno == ESRCH) {
        fail(shoalRemoteError, "shm: write of %zu bytes to peer %d: its process %d is gone", len,
             peer_, kd.pid);
      }
      if (n != static_cast<ssize_t>(len)) {
        failErrno("shm: process_vm_writev of %zu bytes to peer %d (pid %d) returned %zd", len,
                  peer_, kd.pid, n);
      }
    }
  }
  e.kind = Event::kWrite;
  e.imm = imm;
  e.len = static_cast<uint16_t>(e.flags ? len : 0);
  e.noteLen = static_cast<uint16_t>(noteLen);
  if (noteLen) memcpy(e.body, note, noteLen);
  q.publish(e);
  if (ctx_.demotes()) demoteEntry(e, noteLen + e.len);
  ctx_.ring(peer_);
  if (cookie != 0) ctx_.sendDone(peer_, cookie);
  return true;
}

bool ShmPair::sendCtrl(const void* msg, size_t len) {
  if (len > Event::kMaxCtrl) {
    fail(shoalInternalError, "shm: control message of %zu bytes to peer %d exceeds %zu", len, peer_,
         Event::kMaxCtrl);
  }
  MailboxQueue& q = ctx_.outbox(peer_);
  if (!q.hasRoom(tailSeen_)) return false;
  MailboxEntry& e = q.next();
  e.kind = Event::kCtrl;
  e.flags = 0;
  e.len = static_cast<uint16_t>(len);
  if (len) memcpy(e.body, msg, len);
  q.publish(e);
  if (ctx_.demotes()) demoteEntry(e, len);
  ctx_.ring(peer_);
  return true;
}

}  // namespace shoal::transport::shm
