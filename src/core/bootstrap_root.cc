#include "core/bootstrap_root.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/bootstrap_wire.h"
#include "core/error.h"
#include "core/log.h"

namespace shoal::bootstrap {

namespace {

using net::Fd;
using net::SockAddr;

// The root thread allocates while it serves, and callers fork rank processes
// next to it. An allocator without fork handlers (GCC 12's AddressSanitizer
// locks a size class while it refills a thread's cache) would leave a child
// forked at that moment with the lock held forever; its first new thread (UCX
// starts one) then hangs. So the root serves under this lock and a fork waits
// until every root thread is back in poll().
std::mutex& forkGuard() {
  static std::mutex m;
  return m;
}

void installForkGuard() {
  static std::once_flag once;
  std::call_once(once, [] {
    pthread_atfork([] { forkGuard().lock(); }, [] { forkGuard().unlock(); },
                   [] { forkGuard().unlock(); });
  });
}

// One accepted connection, read incrementally so that a slow or hostile
// client never blocks the others.
struct Conn {
  enum Stage { kAuth, kBody, kHost, kRegistered };
  Fd fd;
  SockAddr from;
  Stage stage = kAuth;
  std::vector<uint8_t> buf = std::vector<uint8_t>(wire::kAuthBytes);
  size_t have = 0;
  size_t bytesRead = 0;
  Clock::time_point acceptedAt;
  // Hello contents, valid from kHost on.
  int rank = -1;
  int nranks = 0;
  uint16_t family = 0, port = 0;
  uint8_t addr[16] = {};
  uint32_t pid = 0;
  std::string host;
  bool dead = false;
};

class Root {
 public:
  Root(Fd listenFd, SockAddr bound, const uint8_t secret[32], const RootOptions& opts,
       std::shared_ptr<RootStats> stats)
      : listen_(std::move(listenFd)), bound_(bound), opts_(opts), stats_(std::move(stats)) {
    memcpy(secret_, secret, sizeof(secret_));
    net::randomBytes(session_, sizeof(session_));
  }

  void run() {
    std::unique_lock<std::mutex> guard(forkGuard());
    try {
      serve(guard);
    } catch (const std::exception& e) {
      SHOAL_WARN(BOOTSTRAP, "bootstrap root %s: stopped: %s", bound_.str().c_str(), e.what());
    }
    stats_->registered = 0;
    stats_->finished = true;
  }

 private:
  // Holds guard (forkGuard) except while it waits in poll().
  void serve(std::unique_lock<std::mutex>& guard) {
    SHOAL_INFO(BOOTSTRAP, "bootstrap root listening on %s", bound_.str().c_str());
    for (;;) {
      if (opts_.deadline.expired()) {
        giveUp();
        return;
      }
      std::vector<pollfd> pfds;
      pfds.push_back({listen_.get(), POLLIN, 0});
      std::vector<Conn*> order;
      Clock::time_point wake = opts_.deadline.at();
      for (auto& c : conns_) {
        pfds.push_back({c.fd.get(), POLLIN, 0});
        order.push_back(&c);
        if (c.stage != Conn::kRegistered) wake = std::min(wake, helloDeadline(c));
      }
      int timeoutMs = static_cast<int>(std::clamp<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now()).count() + 1, 0,
          60000));
      guard.unlock();
      int rc = poll(pfds.data(), pfds.size(), timeoutMs);
      int pollErrno = errno;
      guard.lock();
      errno = pollErrno;
      if (rc < 0 && errno != EINTR) {
        failErrno("bootstrap root %s: poll failed", bound_.str().c_str());
      }
      if (rc > 0) {
        for (size_t i = 1; i < pfds.size(); ++i) {
          if (pfds[i].revents) onReadable(*order[i - 1]);
          if (done_) return;
        }
        if (pfds[0].revents & POLLIN) acceptAll();
      }
      closeIdle();
      conns_.remove_if([](const Conn& c) { return c.dead; });
    }
  }

  Clock::time_point helloDeadline(const Conn& c) const {
    return c.acceptedAt + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(opts_.helloTimeoutSeconds));
  }

  void acceptAll() {
    for (;;) {
      SockAddr from;
      Fd fd = net::acceptOne(listen_.get(), &from);
      if (!fd.valid()) return;
      ++stats_->accepted;
      size_t pending = 0;
      for (const auto& c : conns_) pending += c.stage != Conn::kRegistered;
      if (pending >= opts_.maxPendingConnections) {
        SHOAL_WARN(BOOTSTRAP,
                   "bootstrap root %s: dropped a connection from %s: %zu connections are already "
                   "waiting to authenticate",
                   bound_.str().c_str(), from.str().c_str(), pending);
        continue;
      }
      Conn& c = conns_.emplace_back();
      c.fd = std::move(fd);
      c.from = from;
      c.acceptedAt = Clock::now();
    }
  }

  void closeIdle() {
    auto now = Clock::now();
    for (auto& c : conns_) {
      if (c.dead || c.stage == Conn::kRegistered || now < helloDeadline(c)) continue;
      SHOAL_INFO(BOOTSTRAP, "bootstrap root %s: closed %s: no complete hello within %.1f s",
                 bound_.str().c_str(), c.from.str().c_str(), opts_.helloTimeoutSeconds);
      drop(c);
      ++stats_->idleClosed;
    }
  }

  void drop(Conn& c) {
    if (c.stage == Conn::kRegistered) {
      --stats_->registered;
      byRank_[c.rank] = nullptr;
      if (stats_->registered == 0) nranks_ = 0;
    }
    c.fd.reset();
    c.dead = true;
  }

  void onReadable(Conn& c) {
    if (c.dead) return;
    if (c.stage == Conn::kRegistered) {
      onRequest(c);
      return;
    }
    // Read only what the current stage needs: nothing past the secret is
    // touched until the secret has been checked.
    while (c.have < c.buf.size()) {
      ssize_t n = recv(c.fd.get(), c.buf.data() + c.have, c.buf.size() - c.have, MSG_DONTWAIT);
      if (n > 0) {
        c.have += static_cast<size_t>(n);
        c.bytesRead += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // EOF or reset before a full hello: a port scanner or a client that gave up.
      SHOAL_TRACE(BOOTSTRAP, "bootstrap root: %s went away during its hello: %s",
                  c.from.str().c_str(), n == 0 ? "closed" : strerror(errno));
      drop(c);
      return;
    }
    advance(c);
  }

  void advance(Conn& c) {
    wire::Reader r(c.buf.data(), c.buf.size());
    switch (c.stage) {
      case Conn::kAuth: {
        uint32_t magic = r.u32();
        uint8_t secret[wire::kSecretBytes];
        r.raw(secret, sizeof(secret));
        bool good = net::constantTimeEqual(secret, secret_, sizeof(secret));
        if (!good || magic != wire::kHelloMagic) {
          if (magic != wire::kHelloMagic) {
            SHOAL_INFO(BOOTSTRAP, "bootstrap root %s: dropped %s: not a shoal hello",
                       bound_.str().c_str(), c.from.str().c_str());
          } else {
            SHOAL_WARN(BOOTSTRAP,
                       "bootstrap root %s: refused a connection from %s: wrong secret (a unique "
                       "id or SHOAL_SECRET from another job?)",
                       bound_.str().c_str(), c.from.str().c_str());
          }
          drop(c);
          // Counted last, so a test that waits on the counters never forks
          // while this thread still holds the logger.
          size_t prev = stats_->maxBytesReadBeforeReject;
          while (c.bytesRead > prev &&
                 !stats_->maxBytesReadBeforeReject.compare_exchange_weak(prev, c.bytesRead)) {
          }
          ++stats_->rejectedAuth;
          return;
        }
        c.stage = Conn::kBody;
        c.buf.assign(wire::kHelloBodyBytes, 0);
        c.have = 0;
        return;
      }
      case Conn::kBody: {
        wire::HelloBody h;
        bool wellFormed = wire::decodeHelloBody(c.buf.data(), c.buf.size(), &h);
        uint32_t version = h.version;
        c.rank = h.rank;
        c.nranks = h.nranks;
        c.family = h.family;
        c.port = h.port;
        memcpy(c.addr, h.addr, sizeof(c.addr));
        c.pid = h.pid;
        uint16_t hostLen = h.hostLen;
        if (version != wire::kVersion) {
          reject(c, shoalInvalidUsage,
                 strprintf("bootstrap protocol version %u does not match the root's %u (mixed "
                           "shoal versions in one job?)",
                           version, wire::kVersion));
          return;
        }
        if (!wellFormed || hostLen > wire::kMaxHostId) {
          reject(c, shoalInvalidArgument,
                 strprintf("host id of %u bytes is longer than %zu", hostLen, wire::kMaxHostId));
          return;
        }
        c.stage = Conn::kHost;
        c.buf.assign(hostLen, 0);
        c.have = 0;
        if (hostLen == 0) advance(c);
        return;
      }
      case Conn::kHost:
        c.host.assign(c.buf.begin(), c.buf.end());
        c.buf.clear();
        c.have = 0;
        registerRank(c);
        return;
      case Conn::kRegistered:
        return;
    }
  }

  void registerRank(Conn& c) {
    if (c.nranks < 1 || c.rank < 0 || c.rank >= c.nranks) {
      reject(c, shoalInvalidArgument,
             strprintf("rank %d with nranks %d is out of range", c.rank, c.nranks));
      return;
    }
    if (nranks_ != 0 && c.nranks != nranks_) {
      reject(c, shoalInvalidUsage,
             strprintf("rank %d says the job has %d ranks but the ranks that joined before it say "
                       "%d",
                       c.rank, c.nranks, nranks_));
      return;
    }
    if (nranks_ == 0) {
      nranks_ = c.nranks;
      byRank_.assign(nranks_, nullptr);
    }
    if (Conn* other = byRank_[c.rank]) {
      reject(c, shoalInvalidUsage,
             strprintf("rank %d already joined (pid %u on host %s); this process (pid %u on host "
                       "%s) used the same rank",
                       c.rank, other->pid, other->host.c_str(), c.pid, c.host.c_str()));
      return;
    }
    c.stage = Conn::kRegistered;
    c.buf.assign(4, 0);
    byRank_[c.rank] = &c;
    int count = stats_->registered + 1;
    SHOAL_TRACE(BOOTSTRAP, "bootstrap root: rank %d of %d joined from %s (%d/%d)", c.rank, c.nranks,
                c.from.str().c_str(), count, nranks_);
    stats_->registered = count;
    if (count == nranks_) finish();
  }

  // Authenticated but refused: the rank gets the reason, then the connection closes.
  void reject(Conn& c, shoalResult_t code, const std::string& why) {
    SHOAL_WARN(BOOTSTRAP, "bootstrap root %s: refused %s: %s", bound_.str().c_str(),
               c.from.str().c_str(), why.c_str());
    sendError(c, code, why);
    drop(c);
    ++stats_->rejectedHello;
  }

  void sendError(Conn& c, shoalResult_t code, const std::string& why) {
    std::string msg = why.substr(0, wire::kMaxErrorMessage);
    wire::Writer w;
    w.u32(wire::kError);
    w.u32(static_cast<uint32_t>(4 + msg.size()));
    w.u32(static_cast<uint32_t>(code));
    w.str(msg);
    sendFrame(c, w);
  }

  void sendFrame(Conn& c, wire::Writer& w) {
    net::IoStatus st = net::sendAll(c.fd.get(), w.bytes().data(), w.size(), Deadline::after(5));
    if (!st.ok()) {
      SHOAL_WARN(BOOTSTRAP, "bootstrap root %s: could not answer rank %d at %s: %s",
                 bound_.str().c_str(), c.rank, c.from.str().c_str(), st.describe().c_str());
    }
  }

  void onRequest(Conn& c) {
    while (c.have < 4) {
      ssize_t n = recv(c.fd.get(), c.buf.data() + c.have, 4 - c.have, MSG_DONTWAIT);
      if (n > 0) {
        c.have += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      SHOAL_INFO(BOOTSTRAP,
                 "bootstrap root %s: rank %d left before every rank joined (%s); its slot is free "
                 "again",
                 bound_.str().c_str(), c.rank, n == 0 ? "connection closed" : strerror(errno));
      drop(c);
      return;
    }
    c.have = 0;
    wire::Reader r(c.buf.data(), 4);
    uint32_t req = r.u32();
    if (req != wire::kQueryMissing) {
      SHOAL_WARN(BOOTSTRAP, "bootstrap root %s: rank %d sent unknown request %u; dropping it",
                 bound_.str().c_str(), c.rank, req);
      drop(c);
      return;
    }
    std::vector<int> missing = missingRanks();
    wire::Writer w;
    w.u32(wire::kMissing);
    w.u32(static_cast<uint32_t>(4 + 4 * missing.size()));
    w.u32(static_cast<uint32_t>(missing.size()));
    for (int m : missing) w.i32(m);
    sendFrame(c, w);
  }

  std::vector<int> missingRanks() const {
    std::vector<int> out;
    for (int r = 0; r < nranks_; ++r) {
      if (!byRank_[r]) out.push_back(r);
    }
    return out;
  }

  void finish() {
    wire::Writer body;
    body.raw(session_, sizeof(session_));
    for (int r = 0; r < nranks_; ++r) {
      const Conn& c = *byRank_[r];
      body.u16(c.family);
      body.u16(c.port);
      body.raw(c.addr, sizeof(c.addr));
      body.u32(c.pid);
      body.u16(static_cast<uint16_t>(c.host.size()));
      body.str(c.host);
    }
    wire::Writer w;
    w.u32(wire::kTable);
    w.u32(static_cast<uint32_t>(body.size()));
    w.raw(body.bytes().data(), body.size());
    for (int r = 0; r < nranks_; ++r) sendFrame(*byRank_[r], w);
    SHOAL_INFO(BOOTSTRAP, "bootstrap root %s: all %d ranks joined", bound_.str().c_str(), nranks_);
    for (auto& c : conns_) c.fd.reset();
    stats_->succeeded = true;
    done_ = true;
  }

  void giveUp() {
    std::vector<int> missing = missingRanks();
    std::string list;
    for (int m : missing) {
      if (!list.empty()) list += ',';
      list += std::to_string(m);
    }
    std::string why = strprintf(
        "the rendezvous root at %s gave up at its deadline with %d of %d ranks joined (missing: "
        "%s)",
        bound_.str().c_str(), nranks_ - static_cast<int>(missing.size()), nranks_,
        list.empty() ? "none" : list.c_str());
    SHOAL_WARN(BOOTSTRAP, "%s", why.c_str());
    for (auto& c : conns_) {
      if (c.stage == Conn::kRegistered && !c.dead) sendError(c, shoalTimeout, why);
    }
  }

  Fd listen_;
  SockAddr bound_;
  RootOptions opts_;
  std::shared_ptr<RootStats> stats_;
  uint8_t secret_[wire::kSecretBytes];
  uint8_t session_[wire::kSessionBytes];
  std::list<Conn> conns_;  // stable addresses: byRank_ points into it
  std::vector<Conn*> byRank_;
  int nranks_ = 0;
  bool done_ = false;
};

}  // namespace

SockAddr startRoot(const SockAddr& bindAddr, const uint8_t secret[32], const RootOptions& options,
                   std::shared_ptr<RootStats> stats) {
  if (!stats) stats = std::make_shared<RootStats>();
  // Settle the logger's lazily built state here, before the thread exists:
  // a process that forks while the root thread is inside that one-time
  // initialisation would leave its children waiting on it forever.
  (void)log::enabled(log::kWarn, log::BOOTSTRAP);
  Fd fd = net::listenOn(bindAddr, "bootstrap root");
  SockAddr bound = net::localAddress(fd.get());
  auto root = std::make_shared<Root>(std::move(fd), bound, secret, options, stats);
  // Detached: the root ends by itself after the rendezvous or at its deadline,
  // and nothing in the caller waits for it.
  // The thread's own start-up allocates too (outside the guard), so the
  // caller goes on, and may fork, once the thread runs.
  installForkGuard();
  auto started = std::make_shared<std::promise<void>>();
  std::future<void> running = started->get_future();
  std::thread([root, started]() mutable {
    started->set_value();
    root->run();
    // Freed under the guard too (a free can allocate inside the sanitizer).
    std::lock_guard<std::mutex> lock(forkGuard());
    root.reset();
    started.reset();
  }).detach();
  if (running.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    SHOAL_WARN(BOOTSTRAP, "bootstrap root %s: its thread had not started after 10 s; going on",
               bound.str().c_str());
  }
  return bound;
}

static int hexValue(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

void secretFromText(const std::string& text, uint8_t out[32]) {
  if (text.empty()) fail(shoalInvalidArgument, "bootstrap: empty secret");
  bool hex = text.size() == 64;
  for (char ch : text) hex = hex && hexValue(ch) >= 0;
  if (hex) {
    for (size_t i = 0; i < 32; ++i) {
      out[i] = static_cast<uint8_t>(hexValue(text[2 * i]) * 16 + hexValue(text[2 * i + 1]));
    }
    return;
  }
  // Any other text: four 64-bit lanes, each an FNV-1a pass over the text with
  // its own seed, finished by a splitmix64 step. Deterministic, so every rank
  // derives the same bytes; it adds no strength beyond the text itself.
  for (int lane = 0; lane < 4; ++lane) {
    uint64_t h = 0xcbf29ce484222325ull ^ (0x9e3779b97f4a7c15ull * (lane + 1));
    for (unsigned char ch : text) {
      h ^= ch;
      h *= 0x100000001b3ull;
    }
    h += 0x9e3779b97f4a7c15ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    for (int b = 0; b < 8; ++b) out[lane * 8 + b] = static_cast<uint8_t>(h >> (8 * b));
  }
}

}  // namespace shoal::bootstrap
