// The executor's control messages and abort notices (core/exec_wire.h) from
// arbitrary bytes, as a misbehaving peer could send them: call signatures in
// full or as "the same call" with a sequence, credits, landing answers, GPU
// slot announcements, a write's message number, abort notices.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/exec_wire.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  ++data;
  --size;
  if ((sel & 1) == 0) {
    // A control message as Pair::sendCtrl delivers it (at most kMaxCtrl).
    if (size > transport::Event::kMaxCtrl) size = transport::Event::kMaxCtrl;
    execwire::Ctrl c = execwire::decodeCtrl(data, size);
    if (c.kind == execwire::Ctrl::kSignature) {
      if (strnlen(c.sig.algorithm, sizeof(c.sig.algorithm)) >= sizeof(c.sig.algorithm)) abort();
    } else if (c.kind == execwire::Ctrl::kSameSignature) {
      if (size != sizeof(execwire::SameSignatureMsg)) abort();
    } else if (c.kind == execwire::Ctrl::kLanding) {
      // A landing answer: a place that wraps the address space or is empty
      // is refused by decoding; order and size by landingValid.
      const execwire::LandingMsg& m = c.landing;
      if (size != sizeof(execwire::LandingMsg) || m.ok > 1) abort();
      if (m.ok && (m.bytes == 0 || m.addr + m.bytes <= m.addr)) abort();
      const uint64_t sendSeq = m.sequence ^ (sel >> 1), prev = m.sequence - (sel & 0x40);
      const size_t maxBytes = size_t{1} << (sel >> 3);
      if (execwire::landingValid(m, sendSeq, true, prev, maxBytes) &&
          (m.sequence < sendSeq || m.sequence <= prev || (m.ok && m.bytes > maxBytes))) {
        abort();
      }
    } else if (c.kind == execwire::Ctrl::kDeviceSlots) {
      // A GPU slot announcement: one of two halves, exactly its size.
      if (size != sizeof(execwire::DeviceSlotsMsg) || c.slots.part > 1) abort();
    } else if (c.kind == execwire::Ctrl::kCredit) {
      const int slots = 1 << (sel >> 5);  // 1..128, a power of two as SHOAL_SLOTS must be
      const int held = (sel >> 1) % (slots + 1);
      if (execwire::creditsValid(c.credits, held, slots) &&
          static_cast<int64_t>(held) + c.credits > slots) {
        abort();
      }
    }
    if (size >= 12) {
      uint32_t imm;
      uint64_t recvSeq;
      memcpy(&imm, data, 4);
      memcpy(&recvSeq, data + 4, 8);
      int slots = 1 << (sel >> 5);
      int64_t ahead = execwire::writeAhead(imm, recvSeq, slots);
      if (ahead >= slots) abort();
      // A repeated call's note carries the low 32 bits of its sequence; the
      // receiver widens them to the first sequence at or after the last one
      // it saw (sequences count calls, so they stay far from wrapping).
      const uint64_t last = recvSeq >> 1;
      const uint64_t wide = execwire::widenSequence(imm, last);
      if (static_cast<uint32_t>(wide) != imm || wide < last || wide - last > 0xffffffffu) abort();
    }
  } else {
    // An abort notice over the bootstrap mesh: fixed size, any contents.
    AbortNotice n;
    memset(&n, 0, sizeof(n));
    memcpy(&n, data, size < sizeof(n) ? size : sizeof(n));
    std::string text = execwire::noticeText(n);
    if (text.size() > sizeof(n.message)) abort();
    shoalResult_t r = execwire::noticeResult(n);
    if (r != shoalInvalidUsage && r != shoalRemoteError) abort();
  }
  return 0;
}
