// Byte layouts of the bootstrap protocol, shared by the root and the ranks.
// Every integer travels in network byte order; every variable-length field has
// a bound that the reader checks before allocating.
//
//   rank -> root   hello:  magic u32, secret[32]            (checked first)
//                          version u32, rank i32, nranks i32, family u16, port u16,
//                          addr[16], pid u32, hostLen u16, pad u16, host[hostLen]
//   rank -> root   request u32 (kQueryMissing) while waiting for the table
//   root -> rank   frame:  type u32, len u32, payload[len]
//                    kTable:   session[8], then per rank family u16, port u16,
//                              addr[16], pid u32, hostLen u16, host[hostLen]
//                    kError:   code u32, message
//                    kMissing: count u32, rank i32 * count
//   mesh connect:  magic u32, secret[32], session[8], from i32, to i32
//   mesh accept:   magic u32, secret[32], rank i32
//   mesh message:  kind u32, tag u32, len u64, payload[len]
#pragma once

#include <arpa/inet.h>
#include <endian.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace shoal::wire {

constexpr uint32_t kIdMagic = 0x53484f49;     // "SHOI": a valid unique id
constexpr uint32_t kHelloMagic = 0x53484f48;  // "SHOH"
constexpr uint32_t kMeshMagic = 0x53484f4d;   // "SHOM"
constexpr uint32_t kVersion = 1;
constexpr size_t kSecretBytes = 32;
constexpr size_t kSessionBytes = 8;
constexpr size_t kMaxHostId = 255;

constexpr size_t kAuthBytes = 4 + kSecretBytes;
constexpr size_t kHelloBodyBytes = 4 + 4 + 4 + 2 + 2 + 16 + 4 + 2 + 2;
constexpr size_t kMeshHelloBytes = kAuthBytes + kSessionBytes + 4 + 4;
constexpr size_t kMeshAckBytes = kAuthBytes + 4;
constexpr size_t kFrameHeaderBytes = 8;
constexpr size_t kMsgHeaderBytes = 16;
// Mesh messages carry setup data (addresses, keys), never bulk payloads.
constexpr uint64_t kMaxMeshMessage = 1ull << 30;
constexpr uint32_t kMaxErrorMessage = 4096;

enum FrameType : uint32_t { kTable = 1, kError = 2, kMissing = 3 };
enum Request : uint32_t { kQueryMissing = 0x51 };
enum MsgKind : uint32_t { kUser = 1, kAllgather = 2, kBarrier = 3 };

// Appends big-endian fields to a byte vector.
class Writer {
 public:
  void u16(uint16_t v) {
    v = htons(v);
    raw(&v, 2);
  }
  void u32(uint32_t v) {
    v = htonl(v);
    raw(&v, 4);
  }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void u64(uint64_t v) {
    v = htobe64(v);
    raw(&v, 8);
  }
  void raw(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  void str(const std::string& s) { raw(s.data(), s.size()); }
  std::vector<uint8_t>& bytes() { return buf_; }
  size_t size() const { return buf_.size(); }

 private:
  std::vector<uint8_t> buf_;
};

// Reads big-endian fields; ok() turns false on any read past the end, so a
// caller checks once after parsing a whole record.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint16_t u16() {
    uint16_t v = 0;
    raw(&v, 2);
    return ntohs(v);
  }
  uint32_t u32() {
    uint32_t v = 0;
    raw(&v, 4);
    return ntohl(v);
  }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  uint64_t u64() {
    uint64_t v = 0;
    raw(&v, 8);
    return be64toh(v);
  }
  void raw(void* out, size_t n) {
    if (!ok_ || n > n_ - off_) {
      ok_ = false;
      memset(out, 0, n);
      return;
    }
    memcpy(out, p_ + off_, n);
    off_ += n;
  }
  std::string str(size_t n) {
    if (!ok_ || n > n_ - off_) {
      ok_ = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p_ + off_), n);
    off_ += n;
    return s;
  }
  bool ok() const { return ok_; }
  size_t left() const { return n_ - off_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t off_ = 0;
  bool ok_ = true;
};

// Decoders for every variable record, pure so they can be fuzzed
// (fuzz/bootstrap_wire_fuzz.cc); each returns false on a malformed record.

struct HelloBody {
  uint32_t version;
  int32_t rank;
  int32_t nranks;
  uint16_t family;
  uint16_t port;
  uint8_t addr[16];
  uint32_t pid;
  uint16_t hostLen;
};

// The fixed part of a hello after the secret (kHelloBodyBytes).
inline bool decodeHelloBody(const uint8_t* p, size_t n, HelloBody* h) {
  Reader r(p, n);
  h->version = r.u32();
  h->rank = r.i32();
  h->nranks = r.i32();
  h->family = r.u16();
  h->port = r.u16();
  r.raw(h->addr, sizeof(h->addr));
  h->pid = r.u32();
  h->hostLen = r.u16();
  r.u16();  // pad
  return r.ok() && r.left() == 0 && h->hostLen <= kMaxHostId;
}

// Largest frame body a rank accepts from the root in a job of nranks.
inline size_t maxFrameBody(int nranks) {
  return kSessionBytes + static_cast<size_t>(nranks) * (2 + 2 + 16 + 4 + 2 + kMaxHostId);
}

inline bool frameHeaderValid(uint32_t type, uint32_t len, int nranks) {
  return nranks > 0 && len <= maxFrameBody(nranks) &&
         (type == kTable || type == kError || type == kMissing);
}

struct TableEntry {
  uint16_t family;
  uint16_t port;  // host byte order
  uint8_t addr[16];
  uint32_t pid;
  std::string host;
};

// A kTable body for nranks ranks, with nothing left over.
inline bool decodeTable(const uint8_t* p, size_t n, int nranks, uint8_t session[kSessionBytes],
                        std::vector<TableEntry>* out) {
  Reader r(p, n);
  r.raw(session, kSessionBytes);
  out->assign(static_cast<size_t>(nranks > 0 ? nranks : 0), TableEntry{});
  for (auto& e : *out) {
    e.family = r.u16();
    e.port = r.u16();
    r.raw(e.addr, sizeof(e.addr));
    e.pid = r.u32();
    uint16_t len = r.u16();
    if (len > kMaxHostId) return false;
    e.host = r.str(len);
  }
  return nranks > 0 && r.ok() && r.left() == 0;
}

// A kMissing body: count, then that many ranks, each in [0, nranks).
inline bool decodeMissing(const uint8_t* p, size_t n, int nranks, std::vector<int>* out) {
  Reader r(p, n);
  uint32_t count = r.u32();
  if (!r.ok() || count > r.left() / 4) return false;
  out->clear();
  for (uint32_t i = 0; i < count; ++i) {
    int32_t m = r.i32();
    if (m < 0 || m >= nranks) return false;
    out->push_back(m);
  }
  return r.ok() && r.left() == 0;
}

// A kError body: code, then the message (at most kMaxErrorMessage bytes used).
inline bool decodeError(const uint8_t* p, size_t n, uint32_t* code, std::string* msg) {
  Reader r(p, n);
  *code = r.u32();
  *msg = r.str(r.left() < kMaxErrorMessage ? r.left() : kMaxErrorMessage);
  return r.ok();
}

struct MsgHeader {
  uint32_t kind;
  uint32_t tag;
  uint64_t len;
};

// A mesh message header (kMsgHeaderBytes); false for an unknown kind or a
// length over kMaxMeshMessage.
inline bool decodeMsgHeader(const uint8_t* p, size_t n, MsgHeader* h) {
  Reader r(p, n);
  h->kind = r.u32();
  h->tag = r.u32();
  h->len = r.u64();
  return r.ok() && h->len <= kMaxMeshMessage &&
         (h->kind == kUser || h->kind == kAllgather || h->kind == kBarrier);
}

}  // namespace shoal::wire
