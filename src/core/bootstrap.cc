#include "core/bootstrap.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <list>
#include <mutex>
#include <optional>

#include "core/bootstrap_root.h"
#include "core/bootstrap_wire.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/socket.h"

namespace shoal {

namespace {

using net::Fd;
using net::IoStatus;
using net::SockAddr;

std::string rankList(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) {
    if (!s.empty()) s += ',';
    s += std::to_string(r);
  }
  return s.empty() ? "none" : s;
}

std::string localHostId() {
  std::string id = config::getString("SHOAL_HOST_ID");
  if (id.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) != 0) snprintf(name, sizeof(name), "unknown-host");
    id = name;
    // Two containers may share a host name; the boot id tells kernels apart.
    std::ifstream boot("/proc/sys/kernel/random/boot_id");
    std::string bootId;
    if (boot && std::getline(boot, bootId) && !bootId.empty()) id += ":" + bootId;
  }
  if (id.size() > wire::kMaxHostId) id.resize(wire::kMaxHostId);
  return id;
}

// Unset, empty or nonsense falls back to the declared default.
double helloTimeoutSeconds() {
  double t = config::getDouble("SHOAL_BOOTSTRAP_HELLO_TIMEOUT");
  return t > 0 ? t : 10;
}

struct PeerInfo {
  SockAddr addr;
  uint32_t pid = 0;
  std::string host;
};

struct Message {
  uint32_t kind;
  uint32_t tag;
  std::vector<uint8_t> data;
};

// One mesh connection plus the partial frame being read from it and the
// complete frames that arrived before anyone asked for them.
struct Peer {
  Fd fd;
  bool closed = false;
  std::string closedWhy;
  uint8_t header[wire::kMsgHeaderBytes];
  size_t headerHave = 0;
  bool inPayload = false;
  Message partial;
  size_t payloadHave = 0;
  std::deque<Message> inbox;
};

class TcpBootstrap : public Bootstrap {
 public:
  TcpBootstrap(int rank, int nranks) : rank_(rank), size_(nranks), peers_(nranks), info_(nranks) {}
  ~TcpBootstrap() override { close(); }

  void setup(const UniqueIdData& id, Deadline deadline);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const std::string& hostId(int r) const override { return info_.at(r).host; }
  int pid(int r) const override { return static_cast<int>(info_.at(r).pid); }

  void allgather(const void* mine, void* all, size_t bytes, Deadline deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    checkOpen("allgather");
    uint32_t seq = ++allgatherSeq_;
    memcpy(static_cast<uint8_t*>(all) + static_cast<size_t>(rank_) * bytes, mine, bytes);
    exchange(wire::kAllgather, seq, mine, bytes, static_cast<uint8_t*>(all), "allgather", deadline);
  }

  void barrier(Deadline deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    checkOpen("barrier");
    uint32_t seq = ++barrierSeq_;
    exchange(wire::kBarrier, seq, nullptr, 0, nullptr, "barrier", deadline);
  }

  void send(int peer, uint32_t tag, const void* data, size_t bytes, Deadline deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    checkOpen("send");
    checkPeer(peer, "send");
    if (peer == rank_) {
      const uint8_t* p = static_cast<const uint8_t*>(data);
      peers_[peer].inbox.push_back({wire::kUser, tag, std::vector<uint8_t>(p, p + bytes)});
      return;
    }
    sendMessage(peer, wire::kUser, tag, data, bytes, "send", deadline);
  }

  void recv(int peer, uint32_t tag, void* data, size_t bytes, Deadline deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    checkOpen("recv");
    checkPeer(peer, "recv");
    std::string what = strprintf("recv (tag %u)", tag);
    for (;;) {
      if (takeMessage(peer, wire::kUser, tag, data, bytes, what.c_str())) return;
      if (peer == rank_) {
        fail(shoalInvalidUsage,
             "bootstrap: rank %d: recv from itself with tag %u but nothing was sent", rank_, tag);
      }
      failIfClosed(peer, what.c_str());
      if (!progress(-1, deadline)) {
        fail(shoalTimeout, "bootstrap: rank %d timed out in %s from rank %d", rank_, what.c_str(),
             peer);
      }
    }
  }

  bool tryRecv(int peer, uint32_t tag, void* data, size_t bytes) override {
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    if (!lock.owns_lock() || closedAll_) return false;
    checkPeer(peer, "tryRecv");
    if (peer != rank_ && !peers_[peer].closed) drain(peer);
    return takeMessage(peer, wire::kUser, tag, data, bytes, "tryRecv");
  }

  bool peerAlive(int peer) override {
    if (peer < 0 || peer >= size_ || peer == rank_) return peer == rank_;
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    if (lock.owns_lock()) {
      if (closedAll_) return false;
      Peer& p = peers_[peer];
      if (!p.closed) drain(peer);
      return !p.closed;
    }
    // Another thread is inside a blocking call: look without consuming.
    int fd = peerFd_[peer].load();
    if (fd < 0) return false;
    pollfd pfd{fd, POLLIN | POLLRDHUP, 0};
    if (poll(&pfd, 1, 0) <= 0) return true;
    if (pfd.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return false;
    char byte;
    ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return false;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    return true;
  }

  void close() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closedAll_) return;
    closedAll_ = true;
    for (int r = 0; r < size_; ++r) {
      peerFd_[r] = -1;
      peers_[r].fd.reset();
    }
  }

 private:
  void checkOpen(const char* op) const {
    if (closedAll_) fail(shoalInvalidUsage, "bootstrap: rank %d: %s after close()", rank_, op);
  }
  void checkPeer(int peer, const char* op) const {
    if (peer < 0 || peer >= size_) {
      fail(shoalInvalidArgument, "bootstrap: rank %d: %s with peer %d outside 0..%d", rank_, op,
           peer, size_ - 1);
    }
  }

  void markClosed(int peer, const std::string& why) {
    Peer& p = peers_[peer];
    if (p.closed) return;
    p.closed = true;
    p.closedWhy = why;
    peerFd_[peer] = -1;
    p.fd.reset();
    SHOAL_INFO(BOOTSTRAP, "bootstrap: rank %d lost its connection to rank %d: %s", rank_, peer,
               why.c_str());
  }

  void failIfClosed(int peer, const char* op) {
    const Peer& p = peers_[peer];
    if (p.closed) {
      // The peer may have left only because another rank died first (a
      // failed init closes its mesh): name every rank that is gone.
      std::string gone;
      // Closes of a killed process reach its peers in no set order: let the
      // others arrive before looking.
      usleep(20000);
      for (int r = 0; r < size_; ++r) {
        if (r == rank_) continue;
        if (!peers_[r].closed && peers_[r].fd.valid()) drain(r);
        if (!peers_[r].closed) continue;
        char num[16];
        snprintf(num, sizeof(num), "%s%d", gone.empty() ? "" : ",", r);
        gone.append(num);
      }
      fail(shoalRemoteError,
           "bootstrap: rank %d: %s with rank %d failed: rank %d closed its connection (%s); the "
           "process probably exited or was killed (ranks gone: {%s})",
           rank_, op, peer, peer, p.closedWhy.c_str(), gone.c_str());
    }
  }

  // Reads whatever is available on peer's socket into its inbox, without
  // blocking; marks the peer closed on EOF or error.
  void drain(int peer) {
    Peer& p = peers_[peer];
    while (!p.closed) {
      uint8_t* dst;
      size_t want;
      if (!p.inPayload) {
        dst = p.header + p.headerHave;
        want = sizeof(p.header) - p.headerHave;
      } else {
        dst = p.partial.data.data() + p.payloadHave;
        want = p.partial.data.size() - p.payloadHave;
      }
      ssize_t n = want ? ::recv(p.fd.get(), dst, want, MSG_DONTWAIT) : 0;
      if (want && n == 0) {
        markClosed(peer, "end of stream");
        return;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        markClosed(peer, strerror(errno));
        return;
      }
      if (!p.inPayload) {
        p.headerHave += static_cast<size_t>(n);
        if (p.headerHave < sizeof(p.header)) continue;
        wire::MsgHeader h;
        if (!wire::decodeMsgHeader(p.header, sizeof(p.header), &h)) {
          markClosed(peer, strprintf("protocol error: message of kind %u and %llu bytes announced",
                                     h.kind, static_cast<unsigned long long>(h.len)));
          return;
        }
        p.partial.kind = h.kind;
        p.partial.tag = h.tag;
        p.partial.data.assign(h.len, 0);
        p.payloadHave = 0;
        p.inPayload = true;
        p.headerHave = 0;
      } else {
        p.payloadHave += static_cast<size_t>(n);
      }
      if (p.inPayload && p.payloadHave == p.partial.data.size()) {
        p.inbox.push_back(std::move(p.partial));
        p.partial = Message{};
        p.inPayload = false;
      }
    }
  }

  // Waits until any peer has something to read (or, with sendPeer >= 0, until
  // that peer's socket can take more), draining everything readable meanwhile
  // so that two ranks sending to each other never both stall. Returns false
  // at the deadline.
  bool progress(int sendPeer, Deadline deadline) {
    std::vector<pollfd> pfds;
    std::vector<int> who;
    for (int r = 0; r < size_; ++r) {
      if (r == rank_ || peers_[r].closed) continue;
      short ev = POLLIN;
      if (r == sendPeer) ev |= POLLOUT;
      pfds.push_back({peers_[r].fd.get(), ev, 0});
      who.push_back(r);
    }
    if (pfds.empty()) return !deadline.expired();
    int rc;
    do {
      rc = poll(pfds.data(), pfds.size(), deadline.remainingMs());
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) failErrno("bootstrap: rank %d: poll failed", rank_);
    if (rc == 0) return false;
    for (size_t i = 0; i < pfds.size(); ++i) {
      if (pfds[i].revents & (POLLIN | POLLERR | POLLHUP)) drain(who[i]);
    }
    return true;
  }

  // Moves the first message of (kind, tag) from peer's inbox into out.
  bool takeMessage(int peer, uint32_t kind, uint32_t tag, void* out, size_t bytes, const char* op) {
    auto& inbox = peers_[peer].inbox;
    for (auto it = inbox.begin(); it != inbox.end(); ++it) {
      if (it->kind != kind || it->tag != tag) continue;
      if (it->data.size() != bytes) {
        fail(shoalInvalidUsage,
             "bootstrap: rank %d: %s from rank %d expected %zu bytes but rank %d sent %zu", rank_,
             op, peer, bytes, peer, it->data.size());
      }
      if (bytes) memcpy(out, it->data.data(), bytes);
      inbox.erase(it);
      return true;
    }
    return false;
  }

  void sendMessage(int peer, uint32_t kind, uint32_t tag, const void* data, size_t bytes,
                   const char* op, Deadline deadline) {
    if (bytes > wire::kMaxMeshMessage) {
      fail(shoalInvalidArgument, "bootstrap: rank %d: %s of %zu bytes exceeds the %llu-byte limit",
           rank_, op, bytes, static_cast<unsigned long long>(wire::kMaxMeshMessage));
    }
    wire::Writer h;
    h.u32(kind);
    h.u32(tag);
    h.u64(bytes);
    const uint8_t* parts[2] = {h.bytes().data(), static_cast<const uint8_t*>(data)};
    size_t lens[2] = {h.size(), bytes};
    for (int i = 0; i < 2; ++i) {
      size_t off = 0;
      while (off < lens[i]) {
        failIfClosed(peer, op);
        ssize_t n = ::send(peers_[peer].fd.get(), parts[i] + off, lens[i] - off,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          off += static_cast<size_t>(n);
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          if (!progress(peer, deadline)) {
            fail(shoalTimeout,
                 "bootstrap: rank %d timed out in %s to rank %d (rank %d is not reading)", rank_,
                 op, peer, peer);
          }
          continue;
        }
        markClosed(peer, n < 0 ? strerror(errno) : "send returned 0");
      }
    }
  }

  // All-to-all of one block per rank: the engine of allgather and barrier.
  void exchange(uint32_t kind, uint32_t seq, const void* mine, size_t bytes, uint8_t* all,
                const char* op, Deadline deadline) {
    for (int i = 1; i < size_; ++i) {
      int peer = (rank_ + i) % size_;
      sendMessage(peer, kind, seq, mine, bytes, op, deadline);
    }
    std::vector<int> pending;
    for (int i = 1; i < size_; ++i) pending.push_back((rank_ + size_ - i) % size_);
    while (!pending.empty()) {
      for (auto it = pending.begin(); it != pending.end();) {
        uint8_t* dst = all ? all + static_cast<size_t>(*it) * bytes : nullptr;
        if (takeMessage(*it, kind, seq, dst, bytes, op)) {
          it = pending.erase(it);
        } else {
          failIfClosed(*it, op);
          ++it;
        }
      }
      if (pending.empty()) break;
      if (!progress(-1, deadline)) {
        fail(shoalTimeout, "bootstrap: rank %d timed out in %s #%u waiting for ranks %s", rank_, op,
             seq, rankList(pending).c_str());
      }
    }
  }

  // --- setup ---
  void rendezvous(const UniqueIdData& id, Deadline deadline, Fd* listenFd);
  void buildMesh(Fd listenFd, Deadline deadline);

  int rank_;
  int size_;
  std::mutex mu_;
  std::vector<Peer> peers_;
  std::vector<PeerInfo> info_;
  std::unique_ptr<std::atomic<int>[]> peerFd_;
  uint8_t secret_[wire::kSecretBytes];
  uint8_t session_[wire::kSessionBytes];
  uint32_t allgatherSeq_ = 0;
  uint32_t barrierSeq_ = 0;
  bool closedAll_ = false;
};

void TcpBootstrap::setup(const UniqueIdData& id, Deadline deadline) {
  peerFd_.reset(new std::atomic<int>[size_]);
  for (int r = 0; r < size_; ++r) peerFd_[r] = -1;
  memcpy(secret_, id.secret, sizeof(secret_));
  Fd listenFd;
  rendezvous(id, deadline, &listenFd);
  buildMesh(std::move(listenFd), deadline);
  for (int r = 0; r < size_; ++r) peerFd_[r] = peers_[r].fd.get();
  SHOAL_INFO(BOOTSTRAP, "bootstrap: rank %d of %d connected to every peer", rank_, size_);
}

void TcpBootstrap::rendezvous(const UniqueIdData& id, Deadline deadline, Fd* listenFd) {
  SockAddr rootAddr = net::unpackAddr(id.family, id.port, id.addr);
  std::string root = rootAddr.str();
  Fd rootFd;
  IoStatus st = net::connectTo(rootAddr, deadline, &rootFd);
  if (!st.ok()) {
    fail(st.kind == IoStatus::kTimeout ? shoalTimeout : shoalSystemError,
         "bootstrap: rank %d could not reach the rendezvous root at %s: %s (is the process that "
         "created the id, or rank 0, running, and did every rank get the same id/SHOAL_ROOT?)",
         rank_, root.c_str(),
         st.kind == IoStatus::kTimeout && st.err ? strerror(st.err) : st.describe().c_str());
  }

  // Listen where peers can reach us: on the chosen interface if the user
  // named one, else on the local address that already routes to the root.
  SockAddr mine;
  if (!config::getString("SHOAL_SOCKET_IFNAME").empty()) {
    mine = net::pickInterfaceAddress(nullptr);
  } else {
    mine = net::localAddress(rootFd.get());
    mine.setPort(0);
  }
  *listenFd = net::listenOn(mine, "bootstrap: rank listener");
  SockAddr bound = net::localAddress(listenFd->get());

  std::string host = localHostId();
  wire::Writer w;
  w.u32(wire::kHelloMagic);
  w.raw(id.secret, wire::kSecretBytes);
  w.u32(wire::kVersion);
  w.i32(rank_);
  w.i32(size_);
  uint16_t fam, portNet;
  uint8_t addr[16];
  net::packAddr(bound, &fam, &portNet, addr);
  w.u16(fam);
  w.u16(ntohs(portNet));
  w.raw(addr, sizeof(addr));
  w.u32(static_cast<uint32_t>(getpid()));
  w.u16(static_cast<uint16_t>(host.size()));
  w.u16(0);
  w.str(host);
  st = net::sendAll(rootFd.get(), w.bytes().data(), w.size(), deadline);
  if (!st.ok()) {
    fail(st.kind == IoStatus::kTimeout ? shoalTimeout : shoalRemoteError,
         "bootstrap: rank %d could not send its hello to the root at %s: %s", rank_, root.c_str(),
         st.describe().c_str());
  }
  SHOAL_TRACE(BOOTSTRAP, "bootstrap: rank %d joined the rendezvous at %s, listening on %s", rank_,
              root.c_str(), bound.str().c_str());

  // Ask the root who is missing shortly before our deadline, so a timeout can
  // name the ranks that never came.
  auto total = deadline.at() - Clock::now();
  auto margin = std::min<Clock::duration>(std::chrono::milliseconds(500), total / 10);
  Deadline queryAt =
      Deadline::after(std::chrono::duration<double>(deadline.at() - margin - Clock::now()).count());
  bool queried = false;
  std::optional<std::vector<int>> missing;
  auto lostRoot = [&](const IoStatus& s) {
    fail(shoalRemoteError,
         "bootstrap: rank %d: the rendezvous root at %s closed the connection before every rank "
         "joined (%s); either the root exited or it refused this rank's secret (an id or "
         "SHOAL_SECRET from another job?)",
         rank_, root.c_str(), s.describe().c_str());
  };
  for (;;) {
    st = net::waitReadable(rootFd.get(), queried ? deadline : queryAt);
    if (st.kind == IoStatus::kTimeout) {
      if (!queried) {
        queried = true;
        wire::Writer q;
        q.u32(wire::kQueryMissing);
        net::sendAll(rootFd.get(), q.bytes().data(), q.size(), deadline);
        continue;
      }
      double secs = std::chrono::duration<double>(total).count();
      if (missing) {
        fail(shoalTimeout,
             "bootstrap: rank %d timed out after %.1f s waiting for %zu of %d ranks to join the "
             "rendezvous at %s (missing: %s)",
             rank_, secs, missing->size(), size_, root.c_str(), rankList(*missing).c_str());
      }
      fail(shoalTimeout,
           "bootstrap: rank %d timed out after %.1f s waiting for the other ranks at the "
           "rendezvous root %s (the root did not say which are missing)",
           rank_, secs, root.c_str());
    }
    if (!st.ok()) lostRoot(st);
    uint8_t hdr[wire::kFrameHeaderBytes];
    st = net::recvAll(rootFd.get(), hdr, sizeof(hdr), deadline);
    if (!st.ok()) lostRoot(st);
    wire::Reader hr(hdr, sizeof(hdr));
    uint32_t type = hr.u32();
    uint32_t len = hr.u32();
    if (!wire::frameHeaderValid(type, len, size_)) {
      fail(shoalRemoteError,
           "bootstrap: rank %d: malformed answer from the root at %s (type %u, %u bytes)", rank_,
           root.c_str(), type, len);
    }
    std::vector<uint8_t> body(len);
    st = net::recvAll(rootFd.get(), body.data(), len, deadline);
    if (!st.ok()) lostRoot(st);
    if (type == wire::kError) {
      uint32_t raw = 0;
      std::string msg;
      wire::decodeError(body.data(), body.size(), &raw, &msg);
      auto code = static_cast<shoalResult_t>(raw);
      if (raw == 0 || raw >= shoalNumResults) code = shoalRemoteError;
      fail(code, "bootstrap: rank %d: the rendezvous root at %s refused it: %s", rank_,
           root.c_str(), msg.c_str());
    }
    if (type == wire::kMissing) {
      std::vector<int> m;
      if (wire::decodeMissing(body.data(), body.size(), size_, &m)) missing = m;
      continue;
    }
    std::vector<wire::TableEntry> table;
    if (!wire::decodeTable(body.data(), body.size(), size_, session_, &table)) {
      fail(shoalRemoteError, "bootstrap: rank %d: the root at %s sent a malformed table", rank_,
           root.c_str());
    }
    for (int i = 0; i < size_; ++i) {
      const wire::TableEntry& e = table[static_cast<size_t>(i)];
      info_[i].pid = e.pid;
      info_[i].host = e.host;
      info_[i].addr = net::unpackAddr(e.family, htons(e.port), e.addr);
    }
    return;
  }
}

void TcpBootstrap::buildMesh(Fd listenFd, Deadline deadline) {
  // Lower ranks accept, higher ranks connect. Connections to lower ranks are
  // made first and not waited on: their listeners queue them, so no rank
  // blocks on another that is still connecting.
  for (int peer = 0; peer < rank_; ++peer) {
    Fd fd;
    IoStatus st = net::connectTo(info_[peer].addr, deadline, &fd);
    if (!st.ok()) {
      fail(st.kind == IoStatus::kTimeout ? shoalTimeout : shoalRemoteError,
           "bootstrap: rank %d could not connect to rank %d at %s (pid %u on %s): %s", rank_, peer,
           info_[peer].addr.str().c_str(), info_[peer].pid, info_[peer].host.c_str(),
           st.describe().c_str());
    }
    wire::Writer w;
    w.u32(wire::kMeshMagic);
    w.raw(secret_, sizeof(secret_));
    w.raw(session_, sizeof(session_));
    w.i32(rank_);
    w.i32(peer);
    st = net::sendAll(fd.get(), w.bytes().data(), w.size(), deadline);
    if (!st.ok()) {
      fail(st.kind == IoStatus::kTimeout ? shoalTimeout : shoalRemoteError,
           "bootstrap: rank %d could not greet rank %d: %s", rank_, peer, st.describe().c_str());
    }
    peers_[peer].fd = std::move(fd);
  }

  // Accept every higher rank. Anything that does not authenticate is closed
  // without being answered and does not count.
  struct Pending {
    Fd fd;
    SockAddr from;
    std::vector<uint8_t> buf = std::vector<uint8_t>(wire::kAuthBytes);
    size_t have = 0;
    bool authed = false;
    Clock::time_point since;
  };
  std::list<Pending> pending;
  int expected = size_ - 1 - rank_;
  auto helloLimit = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(helloTimeoutSeconds()));
  while (expected > 0) {
    std::vector<pollfd> pfds{{listenFd.get(), POLLIN, 0}};
    std::vector<Pending*> who;
    for (auto& p : pending) {
      pfds.push_back({p.fd.get(), POLLIN, 0});
      who.push_back(&p);
    }
    int wait = std::min(deadline.remainingMs(), 1000);
    int rc = poll(pfds.data(), pfds.size(), wait);
    if (rc < 0 && errno != EINTR) failErrno("bootstrap: rank %d: poll failed", rank_);
    if (rc == 0 && deadline.expired()) {
      std::vector<int> missing;
      for (int r = rank_ + 1; r < size_; ++r) {
        if (!peers_[r].fd.valid()) missing.push_back(r);
      }
      fail(shoalTimeout,
           "bootstrap: rank %d timed out building the mesh: no connection from ranks %s", rank_,
           rankList(missing).c_str());
    }
    for (size_t i = 1; i < pfds.size(); ++i) {
      if (!pfds[i].revents) continue;
      Pending& p = *who[i - 1];
      ssize_t n = ::recv(p.fd.get(), p.buf.data() + p.have, p.buf.size() - p.have, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      if (n <= 0) {
        p.fd.reset();
        continue;
      }
      p.have += static_cast<size_t>(n);
      if (p.have < p.buf.size()) continue;
      wire::Reader r(p.buf.data(), p.buf.size());
      if (!p.authed) {
        uint32_t magic = r.u32();
        uint8_t secret[wire::kSecretBytes];
        r.raw(secret, sizeof(secret));
        if (magic != wire::kMeshMagic || !net::constantTimeEqual(secret, secret_, sizeof(secret))) {
          SHOAL_WARN(BOOTSTRAP, "bootstrap: rank %d refused a mesh connection from %s: %s", rank_,
                     p.from.str().c_str(),
                     magic != wire::kMeshMagic ? "not shoal" : "wrong secret");
          p.fd.reset();
          continue;
        }
        p.authed = true;
        p.buf.assign(wire::kSessionBytes + 8, 0);
        p.have = 0;
        continue;
      }
      uint8_t session[wire::kSessionBytes];
      r.raw(session, sizeof(session));
      int from = r.i32();
      int to = r.i32();
      if (!net::constantTimeEqual(session, session_, sizeof(session)) || to != rank_ ||
          from <= rank_ || from >= size_ || peers_[from].fd.valid()) {
        SHOAL_WARN(BOOTSTRAP,
                   "bootstrap: rank %d refused a mesh connection from %s claiming rank %d -> %d "
                   "(%s)",
                   rank_, p.from.str().c_str(), from, to,
                   !net::constantTimeEqual(session, session_, sizeof(session))
                       ? "from another rendezvous"
                       : "unexpected or duplicate rank");
        p.fd.reset();
        continue;
      }
      wire::Writer ack;
      ack.u32(wire::kMeshMagic);
      ack.raw(secret_, sizeof(secret_));
      ack.i32(rank_);
      IoStatus st = net::sendAll(p.fd.get(), ack.bytes().data(), ack.size(), deadline);
      if (!st.ok()) {
        fail(st.kind == IoStatus::kTimeout ? shoalTimeout : shoalRemoteError,
             "bootstrap: rank %d could not answer rank %d's connection: %s", rank_, from,
             st.describe().c_str());
      }
      peers_[from].fd = std::move(p.fd);
      --expected;
    }
    if (pfds[0].revents & POLLIN) {
      for (;;) {
        SockAddr from;
        Fd fd = net::acceptOne(listenFd.get(), &from);
        if (!fd.valid()) break;
        Pending& p = pending.emplace_back();
        p.fd = std::move(fd);
        p.from = from;
        p.since = Clock::now();
      }
    }
    auto now = Clock::now();
    pending.remove_if(
        [&](const Pending& p) { return !p.fd.valid() || now - p.since > helloLimit; });
  }
  listenFd.reset();

  // Each lower rank confirms it knows the secret too.
  for (int peer = 0; peer < rank_; ++peer) {
    uint8_t buf[wire::kMeshAckBytes];
    IoStatus st = net::recvAll(peers_[peer].fd.get(), buf, sizeof(buf), deadline);
    if (!st.ok()) {
      fail(st.kind == IoStatus::kTimeout ? shoalTimeout : shoalRemoteError,
           "bootstrap: rank %d: no answer from rank %d while building the mesh: %s", rank_, peer,
           st.describe().c_str());
    }
    wire::Reader r(buf, sizeof(buf));
    uint32_t magic = r.u32();
    uint8_t secret[wire::kSecretBytes];
    r.raw(secret, sizeof(secret));
    int who = r.i32();
    if (magic != wire::kMeshMagic || !net::constantTimeEqual(secret, secret_, sizeof(secret)) ||
        who != peer) {
      fail(shoalRemoteError,
           "bootstrap: rank %d: the process at %s answered as rank %d without the job's secret "
           "(expected rank %d)",
           rank_, info_[peer].addr.str().c_str(), who, peer);
    }
  }
}

}  // namespace

UniqueIdData createRoot() {
  std::string ifname;
  SockAddr addr = net::pickInterfaceAddress(&ifname);
  uint8_t secret[wire::kSecretBytes];
  net::randomBytes(secret, sizeof(secret));
  bootstrap::RootOptions opts;
  opts.deadline = Deadline::fromConfig();
  opts.helloTimeoutSeconds = helloTimeoutSeconds();
  SockAddr bound = bootstrap::startRoot(addr, secret, opts);
  SHOAL_INFO(BOOTSTRAP, "bootstrap: root on %s (%s)", bound.str().c_str(), ifname.c_str());
  UniqueIdData id{};
  id.magic = wire::kIdMagic;
  net::packAddr(bound, &id.family, &id.port, id.addr);
  memcpy(id.secret, secret, sizeof(secret));
  return id;
}

UniqueIdData createRootAt(const std::string& hostPort, const std::string& secretHex, bool listen) {
  SockAddr addr = net::resolveHostPort(hostPort, "SHOAL_ROOT");
  if (addr.port() == 0) {
    fail(shoalInvalidArgument, "bootstrap: root address %s needs a port other than 0",
         hostPort.c_str());
  }
  UniqueIdData id{};
  id.magic = wire::kIdMagic;
  bootstrap::secretFromText(secretHex, id.secret);
  net::packAddr(addr, &id.family, &id.port, id.addr);
  if (listen) {
    bootstrap::RootOptions opts;
    opts.deadline = Deadline::fromConfig();
    opts.helloTimeoutSeconds = helloTimeoutSeconds();
    try {
      bootstrap::startRoot(addr, id.secret, opts);
    } catch (const Error& e) {
      // The name may resolve to an address that is not this host's own
      // (NAT, a load balancer name): listen on every interface instead.
      if (e.code() != shoalSystemError || e.what() == nullptr ||
          std::string(e.what()).find(strerror(EADDRNOTAVAIL)) == std::string::npos) {
        throw;
      }
      SockAddr any;
      any.ss.ss_family = static_cast<sa_family_t>(addr.family());
      any.len = addr.len;
      any.setPort(addr.port());
      SHOAL_INFO(BOOTSTRAP, "bootstrap: %s is not a local address; the root listens on %s",
                 addr.str().c_str(), any.str().c_str());
      bootstrap::startRoot(any, id.secret, opts);
    }
  }
  return id;
}

std::unique_ptr<Bootstrap> Bootstrap::create(const UniqueIdData& id, int rank, int nranks,
                                             Deadline deadline) {
  if (id.magic != wire::kIdMagic) {
    fail(shoalInvalidArgument,
         "bootstrap: rank %d: the unique id is not one made by shoalGetUniqueId (bad magic)", rank);
  }
  if (nranks < 1 || rank < 0 || rank >= nranks) {
    fail(shoalInvalidArgument, "bootstrap: rank %d out of range for %d ranks", rank, nranks);
  }
  auto b = std::make_unique<TcpBootstrap>(rank, nranks);
  b->setup(id, deadline);
  return b;
}

}  // namespace shoal
