// The UCX transport's active-message header (transports/ucx/wire.h): a
// header it accepts must lie within the message, payload included.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "transports/ucx/wire.h"

using namespace shoal::transport::ucx;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int nranks = 1 + data[0] % 64;
  ++data;
  --size;
  WireHeader h;
  if (!decodeWireHeader(data, size, nranks, &h)) return 0;
  if (h.src < 0 || h.src >= nranks) abort();
  if (sizeof(WireHeader) + static_cast<size_t>(h.len) > size) abort();
  if (h.kind != MsgKind::kWriteInline && h.len > shoal::transport::Event::kMaxCtrl) abort();
  // Touch the whole payload, as deliver() copies it.
  volatile uint8_t sum = 0;
  for (size_t i = 0; i < h.len; ++i) sum = static_cast<uint8_t>(sum + data[sizeof(WireHeader) + i]);
  (void)sum;
  return 0;
}
