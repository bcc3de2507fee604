// What a verbs rank reads from its peers (transports/verbs/wire.h): the
// connect record of the bootstrap's allgather (decodeRankAddr, before any of
// it reaches ibv_modify_qp) and a buffer's remote key (decodeKey, before
// write() aims an RDMA write with it). Whatever they accept must be usable as
// connect() and write() use it; whatever they refuse must be a shoal::Error.
//
// Input: a selector byte; for a connect record three bytes (rank count, queue
// pairs per peer, receiving rank) and the record itself, any length; for a
// key, a 16-byte write (offset, length) and the RemoteKey's fields.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "transports/verbs/wire.h"

using namespace shoal;
using namespace shoal::transport;
using namespace shoal::transport::verbs;

// Refusals are the common case; logging each would cost most of the run. The
// log reads SHOAL_DEBUG while static objects are built, hence the priority.
__attribute__((constructor(101))) static void quietLog() { setenv("SHOAL_DEBUG", "NONE", 0); }

namespace {

void connectRecord(const uint8_t* data, size_t size) {
  if (size < 3) return;
  const int nranks = 1 + data[0] % 16;
  const int nq = 1 + data[1] % 16;  // SHOAL_IB_QPS_PER_CONNECTION is clamped to 1..16
  const int me = data[2] % nranks;
  const int peer = (me + 1) % nranks;
  data += 3;
  size -= 3;
  // An exact-size copy, so the address sanitizer sees any read past the record.
  std::vector<uint8_t> block(data, data + size);
  std::vector<QpAddr> toMe;
  RankAddr a;
  try {
    a = decodeRankAddr(block.data(), block.size(), me, peer, nranks, nq, &toMe);
  } catch (const Error&) {
    return;
  }
  if (block.size() != addrBlockBytes(nranks, nq)) abort();
  if (a.magic != kAddrMagic || a.qpsPerPeer != static_cast<uint32_t>(nq)) abort();
  if (a.mtu < kMinMtu || a.mtu > kMaxMtu) abort();
  if (toMe.size() != static_cast<size_t>(nq)) abort();
  for (const QpAddr& q : toMe) {
    if (q.qpn > kMax24 || q.psn > kMax24) abort();
  }
  // The queue pairs meant for this rank are the ones at its index.
  QpAddr first;
  memcpy(&first, block.data() + sizeof(RankAddr) + static_cast<size_t>(me) * nq * sizeof(QpAddr),
         sizeof(first));
  if (first.qpn != toMe[0].qpn || first.psn != toMe[0].psn) abort();
}

void remoteKey(const uint8_t* data, size_t size) {
  if (size < 16 + 20) return;
  uint64_t dstOffset, len;
  memcpy(&dstOffset, data, 8);
  memcpy(&len, data + 8, 8);
  RemoteKey key;
  memcpy(&key.len, data + 16, 4);
  memcpy(&key.addr, data + 20, 8);
  memcpy(&key.size, data + 28, 8);
  memcpy(key.bytes, data + 36, std::min(size - 36, RemoteKey::kMaxBytes));
  WireKey w;
  try {
    w = decodeKey(key);
  } catch (const Error& e) {
    if (e.code() != shoalInvalidArgument) abort();
    return;
  }
  if (key.len != sizeof(WireKey)) abort();
  WireKey raw;
  memcpy(&raw, key.bytes, sizeof(raw));
  if (raw.addr != w.addr || raw.rkey != w.rkey) abort();
  // write()'s own check, then the address it targets must stay in the region.
  if (dstOffset > key.size || len > key.size - dstOffset) return;
  uint64_t end;
  if (__builtin_add_overflow(w.addr, dstOffset + len, &end) || end > w.addr + key.size) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 1) {
    remoteKey(data + 1, size - 1);
  } else {
    connectRecord(data + 1, size - 1);
  }
  return 0;
}
