#include "transports/pair.h"

#include "core/error.h"

namespace shoal::transport {

bool Pair::writeWithNote(const void*, size_t, const RemoteKey&, size_t, uint32_t, uint64_t,
                         const void*, size_t noteLen) {
  fail(shoalInternalError,
       "transport: a write with a %zu-byte note to peer %d on a transport without notes", noteLen,
       peer_);
}

}  // namespace shoal::transport
