// TCP plumbing for the bootstrap: addresses, interface choice, and
// deadline-bounded non-blocking I/O. Functions here report what happened
// (IoStatus) instead of throwing, because only the caller knows which rank and
// which step a failure belongs to.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/deadline.h"

namespace shoal::net {

// Owns one file descriptor; closes it on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;

  int family() const { return ss.ss_family; }
  uint16_t port() const;  // host byte order
  void setPort(uint16_t port);
  bool isLoopback() const;
  // "1.2.3.4:5" or "[::1]:5".
  std::string str() const;
};

// Resolves "host:port", "[v6addr]:port" or "host" + defaultPort (IPv4 first).
// Throws shoalInvalidArgument naming `what` (e.g. "SHOAL_ROOT") on bad input.
SockAddr resolveHostPort(const std::string& hostPort, const char* what, int defaultPort = -1);

// Packs an address into the id's (family, port, 16 address bytes) fields and back.
void packAddr(const SockAddr& a, uint16_t* family, uint16_t* portNet, uint8_t addr[16]);
SockAddr unpackAddr(uint16_t family, uint16_t portNet, const uint8_t addr[16]);

// NCCL-style interface filter: "eth,ib" prefixes, "^docker" excludes,
// "=eth0" exact names. Empty spec matches everything.
bool interfaceMatches(const std::string& ifname, const std::string& spec);

// Address of the interface chosen by SHOAL_SOCKET_IFNAME, or the first
// non-loopback interface that is up, else loopback. Port is 0.
SockAddr pickInterfaceAddress(std::string* ifname);

// Non-blocking, close-on-exec TCP listener with SO_REUSEADDR. Throws
// shoalSystemError naming `what` on failure.
Fd listenOn(const SockAddr& addr, const char* what);
SockAddr localAddress(int fd);
SockAddr peerAddress(int fd);

// Accepts one pending connection (non-blocking, close-on-exec, TCP_NODELAY).
// Returns an invalid Fd when none is pending.
Fd acceptOne(int listenFd, SockAddr* from);

struct IoStatus {
  enum Kind { kOk, kClosed, kTimeout, kError } kind = kOk;
  int err = 0;  // errno for kError (and kClosed caused by a reset)
  bool ok() const { return kind == kOk; }
  // "timed out", "connection closed by the peer", or strerror(err).
  std::string describe() const;
};

// Connects with retries while the listener is not up yet (ECONNREFUSED),
// until the deadline. The returned socket is non-blocking with TCP_NODELAY.
IoStatus connectTo(const SockAddr& addr, Deadline deadline, Fd* out);

// Full transfers on a non-blocking socket, waiting with poll until deadline.
// MSG_NOSIGNAL keeps a closed peer from raising SIGPIPE.
IoStatus sendAll(int fd, const void* data, size_t bytes, Deadline deadline);
IoStatus recvAll(int fd, void* data, size_t bytes, Deadline deadline);
// Waits until fd is readable (or has an error/EOF to report).
IoStatus waitReadable(int fd, Deadline deadline);

// Compares without an early exit so timing does not reveal how many leading
// bytes of a guessed secret were right.
bool constantTimeEqual(const void* a, const void* b, size_t n);

// Fills buf from getrandom(2); throws shoalSystemError on failure.
void randomBytes(void* buf, size_t n);

std::string toHex(const void* data, size_t n);

}  // namespace shoal::net
