// The rank-to-rank mesh listener of the bootstrap against hostile
// connections (issue 9; the root's listener has its own tests in
// bootstrap_test.cc). The test process joins a two-rank job as rank 1 by
// hand, learns rank 0's listener from the root's table, and connects to it
// with a wrong secret, bytes that are not shoal's, another job's session, a
// wrong rank, silence and half a greeting before it greets rank 0 properly.
// Rank 0 (a forked child running the real Bootstrap) must close every bad
// connection without answering, count none of them as rank 1, close the
// silent ones after its hello timeout, and finish its bootstrap once the real
// rank 1 greets it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/bootstrap.h"
#include "core/bootstrap_root.h"
#include "core/bootstrap_wire.h"
#include "core/error.h"
#include "core/socket.h"
#include "util/loopback.h"

namespace shoal {
namespace {

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

using test::loopback;

// How a connection to rank 0 ended: bytes it answered before closing, and
// whether and when it closed.
struct Ending {
  size_t answered = 0;
  bool closed = false;
  double seconds = 0;
};

Ending waitForClose(int fd, double limitSeconds) {
  Ending e;
  auto t0 = std::chrono::steady_clock::now();
  Deadline deadline = Deadline::after(limitSeconds);
  uint8_t buf[256];
  for (;;) {
    net::IoStatus st = net::waitReadable(fd, deadline);
    if (st.kind == net::IoStatus::kTimeout) break;
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      e.answered += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    e.closed = true;  // end of stream, or a reset because it left our bytes unread
    break;
  }
  e.seconds = secondsSince(t0);
  return e;
}

struct MeshHello {
  uint32_t magic = wire::kMeshMagic;
  uint8_t secret[wire::kSecretBytes];
  uint8_t session[wire::kSessionBytes];
  int32_t from = 1;
  int32_t to = 0;
  std::vector<uint8_t> bytes() const {
    wire::Writer w;
    w.u32(magic);
    w.raw(secret, sizeof(secret));
    w.raw(session, sizeof(session));
    w.i32(from);
    w.i32(to);
    return w.bytes();
  }
};

TEST(BootstrapMesh, ListenerClosesHostileConnectionsAndAcceptsTheRealRank) {
  constexpr double kHelloTimeout = 1.0;
  uint8_t secret[wire::kSecretBytes];
  net::randomBytes(secret, sizeof(secret));
  bootstrap::RootOptions ropts;
  ropts.deadline = Deadline::after(60);
  net::SockAddr rootAddr = bootstrap::startRoot(loopback(), secret, ropts);
  UniqueIdData id{};
  id.magic = wire::kIdMagic;
  net::packAddr(rootAddr, &id.family, &id.port, id.addr);
  memcpy(id.secret, secret, sizeof(secret));

  fflush(stdout);
  fflush(stderr);
  pid_t rank0 = fork();
  ASSERT_GE(rank0, 0);
  if (rank0 == 0) {
    int code = 0;
    try {
      setenv("SHOAL_BOOTSTRAP_HELLO_TIMEOUT", "1", 1);
      auto b = Bootstrap::create(id, 0, 2, Deadline::after(30));
      code = b->peerAlive(1) ? 0 : 3;
      b->close();
    } catch (const Error& e) {
      fprintf(stderr, "rank 0: shoal error %d: %s\n", e.code(), e.what());
      code = 2;
    }
    _exit(code);
  }

  // Rank 1's hello to the root (its own listener is never used: lower ranks
  // accept, so only rank 1 connects), then the table with rank 0's address.
  net::Fd listener = net::listenOn(loopback(), "test listener");
  net::Fd root;
  ASSERT_TRUE(net::connectTo(rootAddr, Deadline::after(10), &root).ok());
  const std::string host = "mesh-test-host";
  wire::Writer hello;
  hello.u32(wire::kHelloMagic);
  hello.raw(secret, sizeof(secret));
  hello.u32(wire::kVersion);
  hello.i32(1);
  hello.i32(2);
  uint16_t family, portNet;
  uint8_t addr[16];
  net::packAddr(net::localAddress(listener.get()), &family, &portNet, addr);
  hello.u16(family);
  hello.u16(ntohs(portNet));
  hello.raw(addr, sizeof(addr));
  hello.u32(static_cast<uint32_t>(getpid()));
  hello.u16(static_cast<uint16_t>(host.size()));
  hello.u16(0);
  hello.str(host);
  ASSERT_TRUE(
      net::sendAll(root.get(), hello.bytes().data(), hello.size(), Deadline::after(10)).ok());
  uint8_t frame[wire::kFrameHeaderBytes];
  ASSERT_TRUE(net::recvAll(root.get(), frame, sizeof(frame), Deadline::after(20)).ok());
  wire::Reader fr(frame, sizeof(frame));
  ASSERT_EQ(fr.u32(), static_cast<uint32_t>(wire::kTable));
  std::vector<uint8_t> body(fr.u32());
  ASSERT_TRUE(net::recvAll(root.get(), body.data(), body.size(), Deadline::after(10)).ok());
  MeshHello good;
  memcpy(good.secret, secret, sizeof(secret));
  std::vector<wire::TableEntry> table;
  ASSERT_TRUE(wire::decodeTable(body.data(), body.size(), 2, good.session, &table));
  const net::SockAddr rank0Addr =
      net::unpackAddr(table[0].family, htons(table[0].port), table[0].addr);

  auto connectToRank0 = [&] {
    net::Fd fd;
    EXPECT_TRUE(net::connectTo(rank0Addr, Deadline::after(10), &fd).ok());
    return fd;
  };
  struct Hostile {
    const char* what;
    std::vector<uint8_t> bytes;
  };
  std::vector<Hostile> hostile;
  MeshHello m = good;
  m.secret[0] ^= 1;
  hostile.push_back({"wrong secret", m.bytes()});
  std::vector<uint8_t> junk(200);
  net::randomBytes(junk.data(), junk.size());
  junk[0] = 'G';  // never the mesh magic
  hostile.push_back({"not shoal", junk});
  m = good;
  m.session[0] ^= 1;
  hostile.push_back({"another job's session", m.bytes()});
  m = good;
  m.to = 1;
  hostile.push_back({"greeting for another rank", m.bytes()});
  m = good;
  m.from = 0;
  hostile.push_back({"claims a rank that does not connect", m.bytes()});
  for (const auto& h : hostile) {
    SCOPED_TRACE(h.what);
    net::Fd fd = connectToRank0();
    ASSERT_TRUE(net::sendAll(fd.get(), h.bytes.data(), h.bytes.size(), Deadline::after(10)).ok());
    Ending e = waitForClose(fd.get(), 10);
    EXPECT_TRUE(e.closed);
    EXPECT_EQ(e.answered, 0u) << "rank 0 answered a connection it must refuse";
  }
  // Silent, and a greeting cut short: closed after the hello timeout.
  for (size_t sent : {size_t{0}, size_t{10}, wire::kAuthBytes + 4}) {
    SCOPED_TRACE(sent);
    net::Fd fd = connectToRank0();
    std::vector<uint8_t> part = good.bytes();
    part.resize(sent);
    if (sent) {
      ASSERT_TRUE(net::sendAll(fd.get(), part.data(), sent, Deadline::after(10)).ok());
    }
    Ending e = waitForClose(fd.get(), 10);
    EXPECT_TRUE(e.closed);
    EXPECT_EQ(e.answered, 0u);
    EXPECT_GE(e.seconds, kHelloTimeout * 0.9);
    EXPECT_LT(e.seconds, kHelloTimeout + 3.0);
  }

  // The real rank 1: answered with the job's secret and rank 0's number.
  net::Fd fd = connectToRank0();
  std::vector<uint8_t> greeting = good.bytes();
  ASSERT_TRUE(net::sendAll(fd.get(), greeting.data(), greeting.size(), Deadline::after(10)).ok());
  uint8_t ack[wire::kMeshAckBytes];
  ASSERT_TRUE(net::recvAll(fd.get(), ack, sizeof(ack), Deadline::after(10)).ok());
  wire::Reader ar(ack, sizeof(ack));
  EXPECT_EQ(ar.u32(), wire::kMeshMagic);
  uint8_t theirs[wire::kSecretBytes];
  ar.raw(theirs, sizeof(theirs));
  EXPECT_EQ(memcmp(theirs, secret, sizeof(secret)), 0);
  EXPECT_EQ(ar.i32(), 0);

  int status = 0;
  auto t0 = std::chrono::steady_clock::now();
  while (waitpid(rank0, &status, WNOHANG) == 0 && secondsSince(t0) < 30) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (secondsSince(t0) >= 30) {
    kill(rank0, SIGKILL);
    waitpid(rank0, &status, 0);
  }
  ASSERT_TRUE(WIFEXITED(status)) << "rank 0 did not finish its bootstrap";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "rank 0's bootstrap failed (see its message above)";
}

}  // namespace
}  // namespace shoal
