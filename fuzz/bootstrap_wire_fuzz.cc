// Bootstrap records (core/bootstrap_wire.h) from arbitrary bytes: the first
// byte picks the record and the job size, the rest is the record. Decoders
// must never read out of bounds, and whatever they accept must re-encode to
// exactly the bytes they were given.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/bootstrap_wire.h"

using namespace shoal::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  const int nranks = 1 + (sel >> 3);  // 1..32
  ++data;
  --size;
  switch (sel & 7) {
    case 0: {
      HelloBody h;
      if (decodeHelloBody(data, size, &h)) {
        if (size != kHelloBodyBytes || h.hostLen > kMaxHostId) abort();
        Writer w;
        w.u32(h.version);
        w.i32(h.rank);
        w.i32(h.nranks);
        w.u16(h.family);
        w.u16(h.port);
        w.raw(h.addr, sizeof(h.addr));
        w.u32(h.pid);
        w.u16(h.hostLen);
        w.u16(static_cast<uint16_t>(data[size - 2] << 8 | data[size - 1]));
        if (memcmp(w.bytes().data(), data, size) != 0) abort();
      }
      break;
    }
    case 1: {
      uint8_t session[kSessionBytes];
      std::vector<TableEntry> table;
      if (!decodeTable(data, size, nranks, session, &table)) break;
      if (!frameHeaderValid(kTable, static_cast<uint32_t>(size), nranks)) abort();
      Writer w;
      w.raw(session, sizeof(session));
      for (const auto& e : table) {
        if (e.host.size() > kMaxHostId) abort();
        w.u16(e.family);
        w.u16(e.port);
        w.raw(e.addr, sizeof(e.addr));
        w.u32(e.pid);
        w.u16(static_cast<uint16_t>(e.host.size()));
        w.str(e.host);
      }
      if (w.size() != size || memcmp(w.bytes().data(), data, size) != 0) abort();
      break;
    }
    case 2: {
      std::vector<int> missing;
      if (!decodeMissing(data, size, nranks, &missing)) break;
      if (size != 4 + 4 * missing.size()) abort();
      for (int m : missing) {
        if (m < 0 || m >= nranks) abort();
      }
      break;
    }
    case 3: {
      uint32_t code;
      std::string msg;
      if (decodeError(data, size, &code, &msg) && msg.size() > kMaxErrorMessage) abort();
      break;
    }
    case 4: {
      MsgHeader h;
      if (decodeMsgHeader(data, size, &h) && h.len > kMaxMeshMessage) abort();
      break;
    }
    default: {
      // The Reader alone, driven by the bytes: reads of every width and
      // lengths chosen by the input, never past the end.
      Reader r(data, size);
      size_t i = 0;
      while (r.ok() && i < size) {
        switch (data[i++] & 3) {
          case 0:
            r.u16();
            break;
          case 1:
            r.u32();
            break;
          case 2:
            r.u64();
            break;
          default: {
            std::string s = r.str(i < size ? data[i] : 0);
            if (s.size() > size) abort();
          }
        }
        if (r.left() > size) abort();
      }
    }
  }
  return 0;
}
