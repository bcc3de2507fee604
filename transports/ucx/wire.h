// The one active message shoal's UCX transport sends: a fixed header plus an
// optional control payload, always sent eagerly so the receive callback holds
// the whole message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "transports/context.h"

namespace shoal::transport::ucx {

// Active message id registered on every worker.
constexpr unsigned kAmId = 17;

enum class MsgKind : uint8_t {
  kHello = 1,        // connect handshake; not sequenced
  kWrite = 2,        // the data of a write is in place; carries its imm
  kCtrl = 3,         // control payload
  kBye = 4,          // the sender is closing; errors from it afterwards are expected
  kReady = 5,        // connect handshake, after the sender flushed its hellos; not sequenced
  kWriteInline = 6,  // a small write: the data follows, the receiver copies it to addr
};

struct WireHeader {
  uint32_t magic;
  int32_t src;   // sender's rank
  uint32_t seq;  // per ordered pair, counts everything but the handshake
  uint32_t imm;
  uint32_t len;  // payload bytes after the header
  MsgKind kind;
  uint8_t pad[3];
  uint64_t addr;  // kWriteInline: destination in the receiver's address space
};
static_assert(sizeof(WireHeader) == 32);

constexpr uint32_t kWireMagic = 0x5c0a1cc5;
constexpr size_t kMaxWireBytes = sizeof(WireHeader) + Event::kMaxCtrl;

// Whether an active message of `length` bytes holds a header from one of
// nranks ranks and all the payload it announces (control payloads at most
// Event::kMaxCtrl). Pure, so fuzz/ucx_wire_fuzz.cc can feed it anything.
inline bool decodeWireHeader(const void* data, size_t length, int nranks, WireHeader* h) {
  if (length < sizeof(WireHeader)) return false;
  memcpy(h, data, sizeof(WireHeader));
  return h->magic == kWireMagic && h->src >= 0 && h->src < nranks &&
         length - sizeof(WireHeader) >= h->len &&
         (h->kind == MsgKind::kWriteInline || h->len <= Event::kMaxCtrl);
}

}  // namespace shoal::transport::ucx
