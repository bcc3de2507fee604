// What verbs ranks read from each other: the connect record every rank
// publishes through the bootstrap's allgather, and the remote key of a
// registered buffer (RemoteKey::bytes). Header only and free of libibverbs,
// so fuzz/verbs_wire_fuzz.cc checks the very code connect() and write() run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "transports/buffer.h"

namespace shoal::transport::verbs {

// The head of a rank's connect record; one QpAddr per (peer, queue pair)
// follows, peer-major.
struct RankAddr {
  uint32_t magic;
  uint32_t qpsPerPeer;
  uint16_t lid;
  uint8_t mtu;  // enum ibv_mtu
  uint8_t linkLayer;
  uint32_t reserved;
  uint8_t gid[16];
};
struct QpAddr {
  uint32_t qpn;
  uint32_t psn;
};
constexpr uint32_t kAddrMagic = 0x5b1e7e55;
// Queue-pair numbers and packet sequence numbers are 24-bit on the wire.
constexpr uint32_t kMax24 = 0xffffff;
// enum ibv_mtu: IBV_MTU_256 = 1 ... IBV_MTU_4096 = 5.
constexpr uint8_t kMinMtu = 1;
constexpr uint8_t kMaxMtu = 5;

// Bytes of one rank's record among nranks ranks with nq queue pairs per peer.
inline size_t addrBlockBytes(int nranks, int nq) {
  return sizeof(RankAddr) + static_cast<size_t>(nranks) * static_cast<size_t>(nq) * sizeof(QpAddr);
}

// Checks rank peer's record (len bytes; me and nranks as this rank sees
// them, nq its own queue pairs per peer) and returns its head, with the nq
// queue pairs peer opened towards me in *toMe. Throws naming both ranks: a
// record of another length, magic or queue-pair count is shoalInvalidUsage
// (ranks set up differently), an MTU, queue-pair number or PSN out of range
// shoalRemoteError.
inline RankAddr decodeRankAddr(const uint8_t* block, size_t len, int me, int peer, int nranks,
                               int nq, std::vector<QpAddr>* toMe) {
  if (nranks <= 0 || me < 0 || me >= nranks || nq <= 0 || len != addrBlockBytes(nranks, nq)) {
    fail(shoalInvalidUsage,
         "verbs: rank %d: connect record of rank %d has %zu bytes, want %zu for %d ranks with %d "
         "queue pairs each",
         me, peer, len, nranks > 0 && nq > 0 ? addrBlockBytes(nranks, nq) : size_t{0}, nranks, nq);
  }
  RankAddr a;
  memcpy(&a, block, sizeof(a));
  if (a.magic != kAddrMagic) {
    fail(shoalInvalidUsage,
         "verbs: rank %d: connect record of rank %d has magic 0x%08x, not 0x%08x (another shoal "
         "version, or a rank that chose another transport?)",
         me, peer, a.magic, kAddrMagic);
  }
  if (a.qpsPerPeer != static_cast<uint32_t>(nq)) {
    fail(shoalInvalidUsage,
         "verbs: rank %d: rank %d uses %u queue pairs per connection, this rank %d "
         "(SHOAL_IB_QPS_PER_CONNECTION must be the same everywhere)",
         me, peer, a.qpsPerPeer, nq);
  }
  if (a.mtu < kMinMtu || a.mtu > kMaxMtu) {
    fail(shoalRemoteError, "verbs: rank %d: rank %d announces path MTU code %u (valid: %u to %u)",
         me, peer, a.mtu, kMinMtu, kMaxMtu);
  }
  toMe->resize(static_cast<size_t>(nq));
  const uint8_t* mine =
      block + sizeof(RankAddr) + static_cast<size_t>(me) * static_cast<size_t>(nq) * sizeof(QpAddr);
  for (int i = 0; i < nq; ++i) {
    QpAddr q;
    memcpy(&q, mine + static_cast<size_t>(i) * sizeof(QpAddr), sizeof(q));
    if (q.qpn > kMax24 || q.psn > kMax24) {
      fail(shoalRemoteError,
           "verbs: rank %d: rank %d announces queue pair %d as number 0x%x with PSN 0x%x (both "
           "are 24-bit)",
           me, peer, i, q.qpn, q.psn);
    }
    (*toMe)[static_cast<size_t>(i)] = q;
  }
  return a;
}

// Layout of RemoteKey::bytes for this transport.
struct WireKey {
  uint64_t addr;
  uint32_t rkey;
};

// The RemoteKey of `size` bytes at `addr` under `rkey`: a registered
// buffer's own, or a place a peer named with its rkey (a landing).
inline RemoteKey encodeKey(uint64_t addr, uint32_t rkey, uint64_t size) {
  RemoteKey k;
  WireKey w{addr, rkey};
  k.len = sizeof(w);
  k.addr = addr;
  k.size = size;
  memcpy(k.bytes, &w, sizeof(w));
  return k;
}

// Checks a peer's key and extracts the target address and rkey: the key
// must be a verbs key whose region does not wrap around the address space
// (write() adds offsets within RemoteKey::size to its address). Throws
// shoalInvalidArgument on garbage.
inline WireKey decodeKey(const RemoteKey& key) {
  WireKey w;
  if (key.len != sizeof(w)) {
    fail(shoalInvalidArgument,
         "verbs: remote key has %u bytes, expected %zu (a key from another transport?)", key.len,
         sizeof(w));
  }
  memcpy(&w, key.bytes, sizeof(w));
  if (key.size > UINT64_MAX - w.addr) {
    fail(shoalInvalidArgument,
         "verbs: remote key of %llu bytes at 0x%llx wraps around the address space",
         static_cast<unsigned long long>(key.size), static_cast<unsigned long long>(w.addr));
  }
  return w;
}

}  // namespace shoal::transport::verbs
