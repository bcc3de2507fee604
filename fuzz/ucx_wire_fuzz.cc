// What the UCX transport takes from a peer's active messages, from arbitrary
// bytes. A first byte below 0x80 fuzzes one header (transports/ucx/wire.h):
// one it accepts must lie within the message, payload included. A first byte
// of 0x80 or more feeds a stream of messages through the receive path of
// UcxContext::onActiveMessage and UcxPair::onMessage: decodeWireHeader, the
// reorder buffer (reorder.h) and delivery (deliver.h) into a real event
// queue, with two real buffers registered for small writes. Then messages
// come out in sequence order, each at most once; no more than the bound wait;
// small writes land only inside a registered buffer (the address sanitizer
// watches the copies); control events stay within Event::kMaxCtrl.
//
// Stream input: byte 0 (0x80 | nothing used), byte 1: the reorder bound
// (0..15); then messages, each a length byte (0..255) and that many bytes
// of a message as the transport sends it. A small write's address is taken
// relative to the first buffer, so offsets near 0 hit it and large ones go
// anywhere, wrapping included.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "transports/ucx/deliver.h"
#include "transports/ucx/event_queue.h"
#include "transports/ucx/regions.h"
#include "transports/ucx/reorder.h"
#include "transports/ucx/wire.h"

using namespace shoal::transport;
using namespace shoal::transport::ucx;

// Refused messages are the common case; logging each would cost most of the
// run. The log reads SHOAL_DEBUG while static objects are built, hence the
// priority.
__attribute__((constructor(101))) static void quietLog() { setenv("SHOAL_DEBUG", "NONE", 0); }

namespace {

constexpr int kRanks = 4;
constexpr int kMe = 0;

void oneHeader(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const int nranks = 1 + data[0] % 64;
  ++data;
  --size;
  WireHeader h;
  if (!decodeWireHeader(data, size, nranks, &h)) return;
  if (h.src < 0 || h.src >= nranks) abort();
  if (sizeof(WireHeader) + static_cast<size_t>(h.len) > size) abort();
  if (h.kind != MsgKind::kWriteInline && h.len > Event::kMaxCtrl) abort();
  // Touch the whole payload, as deliver() copies it.
  volatile uint8_t sum = 0;
  for (size_t i = 0; i < h.len; ++i) sum = static_cast<uint8_t>(sum + data[sizeof(WireHeader) + i]);
  (void)sum;
}

bool inside(uint64_t addr, size_t len, const std::vector<uint8_t>& buf) {
  const uint64_t base = reinterpret_cast<uintptr_t>(buf.data());
  return addr >= base && len <= buf.size() && addr - base <= buf.size() - len;
}

void stream(const uint8_t* data, size_t size) {
  if (size < 2) return;
  Reorder reorder(data[1] % 16);
  EventQueue events(16);
  RegionSet regions;
  std::vector<uint8_t> first(256), second(64);
  regions.add(first.data(), first.size());
  regions.add(second.data(), second.size());
  const uint64_t base = reinterpret_cast<uintptr_t>(first.data());
  uint32_t next = 0;  // the sequence number the next delivery must carry
  bool overrun = false;
  size_t off = 2;
  while (off < size && !overrun) {
    size_t len = std::min<size_t>(data[off], size - off - 1);
    ++off;
    // An exact-size copy, so the address sanitizer sees any read past it.
    std::vector<uint8_t> msg(data + off, data + off + len);
    off += len;
    WireHeader h;
    if (!decodeWireHeader(msg.data(), msg.size(), kRanks, &h)) continue;
    if (h.kind == MsgKind::kHello || h.kind == MsgKind::kReady) continue;  // not sequenced
    // One sender's stream, as UcxPair sees it: src only names the pair.
    h.src = 1;
    if (h.kind == MsgKind::kWriteInline) h.addr += base;
    const uint32_t before = reorder.expected();
    auto verdict = reorder.offer(
        h, msg.data() + sizeof(WireHeader), [&](const WireHeader& m, const uint8_t* payload) {
          if (m.seq != next) abort();  // out of order or twice
          ++next;
          const bool fits = m.kind == MsgKind::kWriteInline &&
                            (inside(m.addr, m.len, first) || inside(m.addr, m.len, second));
          const bool fitsCheck = m.kind == MsgKind::kWriteInline && regions.covers(m.addr, m.len);
          if (fits != fitsCheck) abort();
          deliverMessage(m, payload, kMe, 1, events, regions);
        });
    switch (verdict) {
      case Reorder::Verdict::kDelivered:
        if (reorder.expected() == before) abort();
        break;
      case Reorder::Verdict::kHeld:
      case Reorder::Verdict::kDuplicate:
        if (reorder.expected() != before) abort();
        break;
      case Reorder::Verdict::kOverrun:
        overrun = true;  // UcxPair takes nothing more from this peer
        break;
    }
    if (reorder.held() > reorder.max()) abort();
    if (reorder.expected() != next) abort();
    Event out[8];
    for (size_t n = events.drain(out, 8); n > 0; n = events.drain(out, 8)) {
      for (size_t i = 0; i < n; ++i) {
        if (out[i].peer != 1) abort();
        if (out[i].kind == Event::kCtrl && out[i].len > Event::kMaxCtrl) abort();
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 0x80) {
    stream(data, size);
  } else {
    oneHeader(data, size);
  }
  return 0;
}
