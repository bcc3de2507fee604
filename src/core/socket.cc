#include "core/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

namespace shoal::net {

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

uint16_t SockAddr::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

void SockAddr::setPort(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
}

bool SockAddr::isLoopback() const {
  if (family() == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr) >> 24) == 127;
  }
  if (family() == AF_INET6) {
    const auto* a = &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a)) return true;
    if (IN6_IS_ADDR_V4MAPPED(a)) return a->s6_addr[12] == 127;
  }
  return false;
}

std::string SockAddr::str() const {
  char host[INET6_ADDRSTRLEN] = "?";
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, host, sizeof(host));
    return strprintf("%s:%u", host, port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, host, sizeof(host));
    return strprintf("[%s]:%u", host, port());
  }
  return "<no address>";
}

SockAddr resolveHostPort(const std::string& hostPort, const char* what, int defaultPort) {
  std::string host, port;
  if (!hostPort.empty() && hostPort[0] == '[') {
    size_t close = hostPort.find(']');
    if (close == std::string::npos) {
      fail(shoalInvalidArgument, "%s=%s: missing ']' after the IPv6 address", what,
           hostPort.c_str());
    }
    host = hostPort.substr(1, close - 1);
    if (close + 1 < hostPort.size()) {
      if (hostPort[close + 1] != ':') {
        fail(shoalInvalidArgument, "%s=%s: expected ':' after ']'", what, hostPort.c_str());
      }
      port = hostPort.substr(close + 2);
    }
  } else {
    size_t colon = hostPort.rfind(':');
    // More than one colon without brackets is a bare IPv6 address.
    if (colon != std::string::npos && hostPort.find(':') == colon) {
      host = hostPort.substr(0, colon);
      port = hostPort.substr(colon + 1);
    } else {
      host = hostPort;
    }
  }
  if (host.empty()) fail(shoalInvalidArgument, "%s=%s: empty host", what, hostPort.c_str());
  long portNum = defaultPort;
  if (!port.empty()) {
    char* end = nullptr;
    errno = 0;
    portNum = strtol(port.c_str(), &end, 10);
    if (errno || *end || portNum < 0 || portNum > 65535) portNum = -2;
  }
  if (portNum < 0 || portNum > 65535) {
    fail(shoalInvalidArgument, "%s=%s: expected host:port with a port number from 0 to 65535", what,
         hostPort.c_str());
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    fail(shoalInvalidArgument, "%s=%s: cannot resolve host '%s': %s", what, hostPort.c_str(),
         host.c_str(), gai_strerror(rc));
  }
  const addrinfo* pick = nullptr;
  for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
    if (ai->ai_family == AF_INET6 && !pick) pick = ai;
  }
  if (!pick) {
    freeaddrinfo(res);
    fail(shoalInvalidArgument, "%s=%s: host '%s' has no IPv4 or IPv6 address", what,
         hostPort.c_str(), host.c_str());
  }
  SockAddr out;
  memcpy(&out.ss, pick->ai_addr, pick->ai_addrlen);
  out.len = pick->ai_addrlen;
  freeaddrinfo(res);
  out.setPort(static_cast<uint16_t>(portNum));
  return out;
}

void packAddr(const SockAddr& a, uint16_t* family, uint16_t* portNet, uint8_t addr[16]) {
  memset(addr, 0, 16);
  *family = static_cast<uint16_t>(a.family());
  *portNet = htons(a.port());
  if (a.family() == AF_INET) {
    memcpy(addr, &reinterpret_cast<const sockaddr_in*>(&a.ss)->sin_addr, 4);
  } else if (a.family() == AF_INET6) {
    memcpy(addr, &reinterpret_cast<const sockaddr_in6*>(&a.ss)->sin6_addr, 16);
  }
}

SockAddr unpackAddr(uint16_t family, uint16_t portNet, const uint8_t addr[16]) {
  SockAddr out;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.ss);
    sin->sin_family = AF_INET;
    sin->sin_port = portNet;
    memcpy(&sin->sin_addr, addr, 4);
    out.len = sizeof(sockaddr_in);
  } else if (family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = portNet;
    memcpy(&sin6->sin6_addr, addr, 16);
    out.len = sizeof(sockaddr_in6);
  }
  return out;
}

bool interfaceMatches(const std::string& ifname, const std::string& spec) {
  if (spec.empty()) return true;
  std::string list = spec;
  bool exclude = false;
  if (list[0] == '^') {
    exclude = true;
    list.erase(0, 1);
  }
  bool exact = false;
  if (!list.empty() && list[0] == '=') {
    exact = true;
    list.erase(0, 1);
  }
  bool hit = false;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string item = list.substr(start, comma - start);
    if (!item.empty()) {
      if (exact ? ifname == item : ifname.compare(0, item.size(), item) == 0) hit = true;
    }
    start = comma + 1;
  }
  return exclude ? !hit : hit;
}

SockAddr pickInterfaceAddress(std::string* ifname) {
  std::string spec = config::getString("SHOAL_SOCKET_IFNAME");
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) failErrno("bootstrap: getifaddrs failed");

  struct Candidate {
    std::string name;
    SockAddr addr;
    bool loopback;
  };
  std::vector<Candidate> cands;
  std::string seen;
  for (ifaddrs* ifa = list; ifa; ifa = ifa->ifa_next) {
    if (!ifa->ifa_addr || !(ifa->ifa_flags & IFF_UP)) continue;
    int fam = ifa->ifa_addr->sa_family;
    if (fam != AF_INET && fam != AF_INET6) continue;
    if (fam == AF_INET6 &&
        IN6_IS_ADDR_LINKLOCAL(&reinterpret_cast<sockaddr_in6*>(ifa->ifa_addr)->sin6_addr)) {
      continue;  // would need a scope id that the id has no room for
    }
    if (seen.find(std::string(ifa->ifa_name) + " ") == std::string::npos) {
      seen += std::string(ifa->ifa_name) + " ";
    }
    if (!interfaceMatches(ifa->ifa_name, spec)) continue;
    Candidate c;
    c.name = ifa->ifa_name;
    c.addr.len = fam == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    memcpy(&c.addr.ss, ifa->ifa_addr, c.addr.len);
    c.addr.setPort(0);
    c.loopback = (ifa->ifa_flags & IFF_LOOPBACK) != 0;
    cands.push_back(c);
  }
  freeifaddrs(list);

  // An explicit choice is honoured as written; by default prefer a real
  // interface, IPv4 before IPv6, and fall back to loopback.
  const Candidate* best = nullptr;
  auto rank = [&](const Candidate& c) {
    if (!spec.empty()) return c.addr.family() == AF_INET ? 0 : 1;
    return (c.loopback ? 2 : 0) + (c.addr.family() == AF_INET ? 0 : 1);
  };
  for (const auto& c : cands) {
    if (!best || rank(c) < rank(*best)) best = &c;
  }
  if (!best) {
    if (!spec.empty()) {
      fail(shoalInvalidUsage,
           "bootstrap: SHOAL_SOCKET_IFNAME=%s matches no interface that is up with an address "
           "(interfaces up: %s)",
           spec.c_str(), seen.empty() ? "none" : seen.c_str());
    }
    SockAddr lo;
    auto* sin = reinterpret_cast<sockaddr_in*>(&lo.ss);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lo.len = sizeof(sockaddr_in);
    if (ifname) *ifname = "lo";
    return lo;
  }
  if (ifname) *ifname = best->name;
  return best->addr;
}

static void setNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

Fd listenOn(const SockAddr& addr, const char* what) {
  Fd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) failErrno("%s: socket() failed", what);
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr.ss), addr.len) != 0) {
    failErrno("%s: cannot bind %s", what, addr.str().c_str());
  }
  if (listen(fd.get(), SOMAXCONN) != 0)
    failErrno("%s: listen on %s failed", what, addr.str().c_str());
  return fd;
}

SockAddr localAddress(int fd) {
  SockAddr a;
  a.len = sizeof(a.ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a.ss), &a.len) != 0) {
    failErrno("bootstrap: getsockname failed");
  }
  return a;
}

SockAddr peerAddress(int fd) {
  SockAddr a;
  a.len = sizeof(a.ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&a.ss), &a.len) != 0) a.len = 0;
  return a;
}

Fd acceptOne(int listenFd, SockAddr* from) {
  for (;;) {
    SockAddr a;
    a.len = sizeof(a.ss);
    int fd =
        accept4(listenFd, reinterpret_cast<sockaddr*>(&a.ss), &a.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      setNoDelay(fd);
      if (from) *from = a;
      return Fd(fd);
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    // EAGAIN: nothing pending. EMFILE and friends: leave the connection in the
    // backlog and let the caller retry later rather than spin on it here.
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      SHOAL_WARN(BOOTSTRAP, "bootstrap: accept failed: %s", strerror(errno));
    }
    return Fd();
  }
}

std::string IoStatus::describe() const {
  switch (kind) {
    case kOk:
      return "ok";
    case kTimeout:
      return "timed out";
    case kClosed:
      return err ? std::string("connection closed by the peer (") + strerror(err) + ")"
                 : std::string("connection closed by the peer");
    case kError:
      return strerror(err);
  }
  return "?";
}

static IoStatus pollFor(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, deadline.remainingMs());
    if (rc > 0) return {};
    if (rc == 0) return {IoStatus::kTimeout, 0};
    if (errno != EINTR) return {IoStatus::kError, errno};
  }
}

IoStatus connectTo(const SockAddr& addr, Deadline deadline, Fd* out) {
  int backoffMs = 5;
  for (;;) {
    Fd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return {IoStatus::kError, errno};
    int rc;
    do {
      rc = connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr.ss), addr.len);
    } while (rc != 0 && errno == EINTR);
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      IoStatus st = pollFor(fd.get(), POLLOUT, deadline);
      if (!st.ok()) return st;
      socklen_t len = sizeof(err);
      if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    }
    if (err == 0) {
      setNoDelay(fd.get());
      *out = std::move(fd);
      return {};
    }
    // The listener may simply not be up yet (a launcher starts every rank at
    // once); anything else is final.
    if (err != ECONNREFUSED && err != ETIMEDOUT && err != ECONNRESET && err != EAGAIN) {
      return {IoStatus::kError, err};
    }
    if (deadline.remainingMs() <= backoffMs) {
      return {IoStatus::kTimeout, err};
    }
    usleep(backoffMs * 1000);
    if (backoffMs < 200) backoffMs *= 2;
  }
}

IoStatus sendAll(int fd, const void* data, size_t bytes, Deadline deadline) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::send(fd, p, bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      IoStatus st = pollFor(fd, POLLOUT, deadline);
      if (!st.ok()) return st;
      continue;
    }
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return {IoStatus::kClosed, errno};
    return {IoStatus::kError, n < 0 ? errno : EIO};
  }
  return {};
}

IoStatus recvAll(int fd, void* data, size_t bytes, Deadline deadline) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    ssize_t n = ::recv(fd, p, bytes, MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return {IoStatus::kClosed, 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      IoStatus st = pollFor(fd, POLLIN, deadline);
      if (!st.ok()) return st;
      continue;
    }
    if (errno == ECONNRESET) return {IoStatus::kClosed, errno};
    return {IoStatus::kError, errno};
  }
  return {};
}

IoStatus waitReadable(int fd, Deadline deadline) { return pollFor(fd, POLLIN, deadline); }

bool constantTimeEqual(const void* a, const void* b, size_t n) {
  const volatile uint8_t* x = static_cast<const volatile uint8_t*>(a);
  const volatile uint8_t* y = static_cast<const volatile uint8_t*>(b);
  uint8_t diff = 0;
  for (size_t i = 0; i < n; ++i) diff |= static_cast<uint8_t>(x[i] ^ y[i]);
  return diff == 0;
}

void randomBytes(void* buf, size_t n) {
  uint8_t* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      failErrno("bootstrap: getrandom failed");
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
}

std::string toHex(const void* data, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  const uint8_t* p = static_cast<const uint8_t*>(data);
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}

}  // namespace shoal::net
