// Out-of-band rendezvous over TCP. A root (started by shoalGetUniqueId, or by
// rank 0 for shoalCommInitFromEnv) collects every rank's listening address and
// hands back the table; ranks then connect in a full mesh of TCP sockets that
// carry setup exchanges (allgather, barrier, point-to-point) and tell a rank
// when a peer process has gone away. Every connection is authenticated by the
// unique id's secret before anything else is read, and every step has a
// deadline. Not used on the data path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/deadline.h"
#include "shoal/shoal.h"

namespace shoal {

// Layout of shoalUniqueId::internal (128 bytes, passed by value between ranks).
struct UniqueIdData {
  uint32_t magic;
  uint16_t family;  // AF_INET or AF_INET6
  uint16_t port;    // network byte order
  uint8_t addr[16];
  uint8_t secret[32];
  uint8_t reserved[72];
};
static_assert(sizeof(UniqueIdData) <= SHOAL_UNIQUE_ID_BYTES);

// Starts a root listener thread in this process on an ephemeral port of the
// interface picked by SHOAL_SOCKET_IFNAME (or the first non-loopback one, else
// loopback) and returns an id for it with a fresh random secret. The root
// serves one rendezvous and then exits.
UniqueIdData createRoot();
// Starts a root bound to host:port with the given secret (rank 0 of
// shoalCommInitFromEnv); returns the matching id. The root thread exits after
// the rendezvous or its deadline.
UniqueIdData createRootAt(const std::string& hostPort, const std::string& secretHex, bool listen);

class Bootstrap {
 public:
  // Connects to the root, takes part in the rendezvous, builds the mesh.
  // Fails with shoalInvalidUsage if another process already joined as `rank`,
  // shoalTimeout if the others do not arrive before the deadline.
  static std::unique_ptr<Bootstrap> create(const UniqueIdData& id, int rank, int nranks,
                                           Deadline deadline);
  virtual ~Bootstrap() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Host identity of each rank (SHOAL_HOST_ID or the host name + boot id).
  virtual const std::string& hostId(int rank) const = 0;
  virtual int pid(int rank) const = 0;

  // `all` receives size() * bytes, rank r's block at r * bytes.
  virtual void allgather(const void* mine, void* all, size_t bytes, Deadline deadline) = 0;
  virtual void barrier(Deadline deadline) = 0;
  // Point-to-point messages on the mesh; tag keeps separate exchanges apart.
  virtual void send(int peer, uint32_t tag, const void* data, size_t bytes, Deadline deadline) = 0;
  virtual void recv(int peer, uint32_t tag, void* data, size_t bytes, Deadline deadline) = 0;

  // Non-blocking receive: true (and data filled) when a message with this tag
  // from peer has already arrived, also after the peer closed its connection.
  virtual bool tryRecv(int peer, uint32_t tag, void* data, size_t bytes) = 0;

  // Non-blocking: false once the peer's mesh connection closed or broke (the
  // peer process exited or was killed). Cheap enough to call from wait loops.
  virtual bool peerAlive(int peer) = 0;
  // Closes every connection so peers see this rank leave.
  virtual void close() = 0;
};

}  // namespace shoal
