// The shm transport's mailbox entries (transports/shm/mailbox.h) as another
// rank on the host could write them into this rank's mailbox, consumed by
// the real ShmContext::poll of a one-rank communicator (its queue from
// itself). Each entry becomes exactly one event; a write's note and a
// control message reach the event only within Event::kMaxCtrl, and an entry
// of any other kind, or a longer control message, becomes an error event;
// inline data lands only inside memory this rank registered for peers, byte
// for byte, and an inline write anywhere else is refused as an error event.
//
// Input: records of 24 header bytes (kind, flags, len, imm, noteLen, an
// address mode, an offset into the registered buffer or a raw address)
// followed by up to 104 body bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/bootstrap.h"
#include "core/config.h"
#include "transports/shm/context.h"

using namespace shoal;
using namespace shoal::transport;
using shoal::transport::shm::kEntryBody;
using shoal::transport::shm::MailboxEntry;
using shoal::transport::shm::MailboxQueue;

namespace shoal {
// The bootstrap's default deadline; the library defines it in core/comm.cc,
// which would bring the whole library into this target.
Deadline Deadline::fromConfig() { return after(config::getDouble("SHOAL_TIMEOUT")); }
}  // namespace shoal

namespace {

constexpr size_t kTargetBytes = 4096;
constexpr size_t kHeader = 24;

struct World {
  std::unique_ptr<Bootstrap> boot;
  std::unique_ptr<shm::ShmContext> ctx;
  std::unique_ptr<Buffer> target;  // registered memory inline writes may land in
  std::vector<uint8_t> shadow;     // what target must hold
  uint64_t tailSeen = 0;
};

World& world() {
  static World* w = [] {
    auto* x = new World;
    UniqueIdData id = createRoot();
    x->boot = Bootstrap::create(id, 0, 1, Deadline::after(30));
    x->ctx = std::make_unique<shm::ShmContext>(0, 1);
    x->ctx->connect(*x->boot, Deadline::after(30));
    x->target = x->ctx->allocate(kTargetBytes);
    memset(x->target->data(), 0, kTargetBytes);
    x->shadow.assign(kTargetBytes, 0);
    return x;
  }();
  return *w;
}

template <class T>
T read(const uint8_t* p) {
  T v;
  memcpy(&v, p, sizeof(v));
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  const auto base = reinterpret_cast<uint64_t>(w.target->data());
  MailboxQueue& q = w.ctx->outbox(0);  // rank 0's queue from rank 0
  Event events[4];
  while (size >= kHeader) {
    const uint8_t* h = data;
    const size_t bodyLen = std::min(size - kHeader, kEntryBody);
    const uint8_t* body = data + kHeader;
    data += kHeader + bodyLen;
    size -= kHeader + bodyLen;

    if (!q.hasRoom(w.tailSeen)) abort();  // every entry is consumed below
    MailboxEntry& e = q.next();
    // Mostly writes and control messages, and now and then any other kind
    // byte, which poll must turn into an error event.
    e.kind = (h[0] & 0x80) ? h[0] & 0x7f : (h[0] & 1 ? Event::kCtrl : Event::kWrite);
    e.flags = h[1];
    e.len = read<uint16_t>(h + 2);
    e.imm = read<uint32_t>(h + 4);
    e.noteLen = read<uint16_t>(h + 8);
    // Near the registered buffer (its edges included) or anywhere at all.
    e.addr =
        (h[10] & 1) ? read<uint64_t>(h + 16) : base + read<uint32_t>(h + 12) % (kTargetBytes + 256);
    memset(e.body, 0, sizeof(e.body));
    memcpy(e.body, body, bodyLen);
    // The entry as published, for the checks (the consumer may reuse it).
    const uint8_t kind = e.kind, flags = e.flags;
    const uint16_t len = e.len, noteLen = e.noteLen;
    const uint32_t imm = e.imm;
    const uint64_t addr = e.addr;
    uint8_t sent[kEntryBody];
    memcpy(sent, e.body, sizeof(sent));
    q.publish(e);

    size_t n = w.ctx->poll(events, 4);
    if (n != 1 || w.ctx->poll(events + 1, 3) != 0) abort();
    const Event& ev = events[0];
    if (ev.peer != 0 || ev.len > Event::kMaxCtrl) abort();
    if (ev.kind == Event::kError && strnlen(ev.message, sizeof(ev.message)) >= sizeof(ev.message)) {
      abort();
    }
    if (kind == Event::kWrite) {
      const bool inlineData = flags & MailboxEntry::kInline;
      const bool fits = noteLen <= Event::kMaxCtrl && len <= kEntryBody - noteLen;
      const bool inside =
          addr >= base && addr - base <= kTargetBytes && len <= kTargetBytes - (addr - base);
      const bool accepted = noteLen <= Event::kMaxCtrl && (!inlineData || (fits && inside));
      if (accepted) {
        if (ev.kind != Event::kWrite || ev.imm != imm || ev.len != noteLen ||
            memcmp(ev.payload, sent, noteLen) != 0) {
          abort();
        }
        if (inlineData) memcpy(w.shadow.data() + (addr - base), sent + noteLen, len);
      } else if (ev.kind != Event::kError) {
        abort();
      }
    } else if (kind == Event::kCtrl && len <= Event::kMaxCtrl) {
      if (ev.kind != Event::kCtrl || ev.len != len || memcmp(ev.payload, sent, len) != 0) abort();
    } else if (ev.kind != Event::kError) {
      abort();  // an oversized control message, or a kind no peer may send
    }
    // Nothing but an accepted inline write changes registered memory.
    if (memcmp(w.target->data(), w.shadow.data(), kTargetBytes) != 0) abort();
  }
  return 0;
}
