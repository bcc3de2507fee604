// 127.0.0.1 as the bootstrap's socket address, for tests that open their own
// connections to a rank's or the root's listener.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/socket.h"

namespace shoal::test {

inline net::SockAddr loopback() {
  net::SockAddr a;
  auto* sin = reinterpret_cast<sockaddr_in*>(&a.ss);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.len = sizeof(sockaddr_in);
  return a;
}

}  // namespace shoal::test
