// The rendezvous root: one thread that collects every rank's hello and sends
// back the table. Exposed here (rather than only through createRoot) so tests
// can give it short timeouts and read what it saw.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/deadline.h"
#include "core/socket.h"

namespace shoal::bootstrap {

// What the root saw; shared with the thread, so it outlives it safely.
struct RootStats {
  std::atomic<int> accepted{0};
  std::atomic<int> rejectedAuth{0};   // wrong magic or secret
  std::atomic<int> rejectedHello{0};  // authenticated but refused (duplicate rank, bad sizes)
  std::atomic<int> idleClosed{0};     // no complete hello before the hello timeout
  std::atomic<int> registered{0};     // ranks currently waiting for the table
  // Most bytes read from any connection that failed authentication; the root
  // must never read past the secret of such a connection.
  std::atomic<size_t> maxBytesReadBeforeReject{0};
  std::atomic<bool> finished{false};
  std::atomic<bool> succeeded{false};
};

struct RootOptions {
  Deadline deadline;                // the root gives up (and tells waiting ranks) then
  double helloTimeoutSeconds = 10;  // a connection must authenticate within this
  size_t maxPendingConnections = 256;
};

// Listens on `bindAddr` (port 0 picks a free one) and serves one rendezvous on
// a detached thread. Returns the bound address (with its port).
net::SockAddr startRoot(const net::SockAddr& bindAddr, const uint8_t secret[32],
                        const RootOptions& options, std::shared_ptr<RootStats> stats = nullptr);

// Decodes SHOAL_SECRET-style text into 32 bytes: 64 hex digits are taken as
// they are; any other non-empty text is stretched deterministically.
void secretFromText(const std::string& text, uint8_t out[32]);

}  // namespace shoal::bootstrap
