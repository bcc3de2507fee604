#include "ps/wire.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace shoal::ps {

static_assert(kKeyWireMax <= 4 * KeyFragMsg::kData);

int keyFragments(const transport::RemoteKey& key, uint8_t type, uint32_t keyId, KeyFragMsg out[4]) {
  uint8_t flat[kKeyWireMax];
  uint32_t len = key.len <= transport::RemoteKey::kMaxBytes ? key.len : 0;
  memcpy(flat, &len, 4);
  memcpy(flat + 4, &key.addr, 8);
  memcpy(flat + 12, &key.size, 8);
  memcpy(flat + 20, key.bytes, len);
  size_t total = 20 + len;
  int count = static_cast<int>((total + KeyFragMsg::kData - 1) / KeyFragMsg::kData);
  for (int i = 0; i < count; ++i) {
    size_t off = static_cast<size_t>(i) * KeyFragMsg::kData;
    size_t n = std::min(KeyFragMsg::kData, total - off);
    KeyFragMsg& m = out[i];
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.index = static_cast<uint8_t>(i);
    m.count = static_cast<uint8_t>(count);
    m.len = static_cast<uint8_t>(n);
    m.keyId = keyId;
    memcpy(m.data, flat + off, n);
  }
  return count;
}

bool KeyAssembler::add(int peer, const KeyFragMsg& f, transport::RemoteKey* key) {
  if (f.count == 0 || f.count > 4 || f.index >= f.count || f.len == 0 ||
      f.len > KeyFragMsg::kData || (f.index + 1 < f.count && f.len != KeyFragMsg::kData)) {
    fail(shoalRemoteError,
         "ps: malformed remote-key fragment from rank %d (index %u of %u, %u bytes)", peer, f.index,
         f.count, f.len);
  }
  Partial& p = partial_[f.keyId];
  if (p.have != 0 && p.count != f.count) {
    partial_.erase(f.keyId);
    fail(shoalRemoteError, "ps: remote-key fragments from rank %d disagree on their count", peer);
  }
  p.count = f.count;
  p.have |= 1u << f.index;
  memcpy(p.data + static_cast<size_t>(f.index) * KeyFragMsg::kData, f.data, f.len);
  if (f.index + 1 == f.count) p.bytes = static_cast<size_t>(f.index) * KeyFragMsg::kData + f.len;
  if (p.have != (1u << p.count) - 1) return false;
  uint32_t len;
  memcpy(&len, p.data, 4);
  size_t total = p.bytes;
  if (len > transport::RemoteKey::kMaxBytes || total != 20 + static_cast<size_t>(len)) {
    partial_.erase(f.keyId);
    fail(shoalRemoteError, "ps: remote key from rank %d has an invalid length %u (%zu bytes sent)",
         peer, len, total);
  }
  *key = transport::RemoteKey{};
  key->len = len;
  memcpy(&key->addr, p.data + 4, 8);
  memcpy(&key->size, p.data + 12, 8);
  memcpy(key->bytes, p.data + 20, len);
  partial_.erase(f.keyId);
  return true;
}

}  // namespace shoal::ps
