// Remote-key fragments of the parameter server (src/ps/wire.h), as any
// worker or server could send them: the assembler must refuse malformed
// sequences with shoal::Error and never produce a key longer than allowed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "ps/wire.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ps::KeyAssembler assembler;
  // Each record: one byte for the sending peer, then one 64-byte fragment.
  constexpr size_t kRecord = 1 + sizeof(ps::KeyFragMsg);
  for (size_t off = 0; off + kRecord <= size; off += kRecord) {
    ps::KeyFragMsg frag;
    memcpy(&frag, data + off + 1, sizeof(frag));
    transport::RemoteKey key{};
    try {
      if (assembler.add(data[off] % 4, frag, &key) && key.len > transport::RemoteKey::kMaxBytes) {
        abort();
      }
    } catch (const Error&) {
      // Refused, as it must be; later fragments keep coming.
    }
  }
  return 0;
}
