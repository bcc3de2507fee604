#include "sim/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <queue>
#include <string>

#include "core/error.h"

namespace shoal::sim {

namespace {

constexpr double kUs = 1e-6;
constexpr double kGB = 1e9;

struct Port {
  double free = 0;
};

enum EvType : uint8_t { kArrive, kDeliver, kSendDone, kRecvDone, kLocalDone, kCredit };

struct Event {
  double t;
  uint64_t seq;
  double tail;   // kArrive: earliest time the last byte can be in
  int32_t rank;  // simulated rank the event happens on
  int32_t step;
  int32_t peer;  // kArrive: the sending (simulated) rank
  uint16_t chan;
  uint8_t type;
};

struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return a.t > b.t || (a.t == b.t && a.seq > b.seq);
  }
};

struct Chan {
  int32_t peer = -1;    // simulated rank
  uint16_t remote = 0;  // this channel's index in the peer's template
  bool inter = false;
  double lat = 0, bw = 1;               // seconds, bytes per second
  Port *tx = nullptr, *up = nullptr;    // what this rank's sends cross
  Port *rx = nullptr, *down = nullptr;  // what arrivals from the peer cross
  uint32_t sendHead = 0, recvHead = 0, arrived = 0, arrivedTotal = 0;
  int credits = 0;
};

struct Rank {
  const Template* t = nullptr;
  std::vector<uint8_t> waiting;
  std::vector<Chan> chans;
  double engineFree = 0;
  Port intraTx, intraRx;
  size_t completed = 0;
  uint64_t sentMsgs = 0, sentBytes = 0, recvMsgs = 0, recvBytes = 0;
};

class Engine {
 public:
  Engine(const Workload& w, const Profile& p, const EngineOptions& o) : w_(w), p_(p), o_(o) {}

  RunResult run() {
    const auto t0 = std::chrono::steady_clock::now();
    setup();
    for (int i = 0; i < R_; ++i) {
      Rank& rk = ranks_[static_cast<size_t>(i)];
      for (size_t s = 0; s < rk.t->steps.size(); ++s) {
        if (rk.waiting[s] == 0) ready(i, static_cast<int32_t>(s), 0.0);
      }
    }
    while (!q_.empty()) {
      Event e = q_.top();
      q_.pop();
      ++events_;
      handle(e);
    }
    checkFinished();
    RunResult res;
    res.seconds = last_;
    res.simulatedRanks = R_;
    res.events = events_;
    const size_t n = static_cast<size_t>(w_.cluster.ranks());
    res.sentMsgs.resize(n);
    res.sentBytes.resize(n);
    res.recvMsgs.resize(n);
    res.recvBytes.resize(n);
    for (size_t r = 0; r < n; ++r) {
      const Rank& rk = ranks_[r % static_cast<size_t>(R_)];
      res.sentMsgs[r] = rk.sentMsgs;
      res.sentBytes[r] = rk.sentBytes;
      res.recvMsgs[r] = rk.recvMsgs;
      res.recvBytes[r] = rk.recvBytes;
    }
    res.wallSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
  }

 private:
  bool spine() const { return p_.oversub > 1 && w_.cluster.nodes > p_.leafNodes; }

  int choosePeriod() const {
    const int n = w_.cluster.ranks();
    if (!o_.fold || w_.period >= n) return n;
    const int m = w_.cluster.ranksPerNode;
    const int clusterPeriod = spine() ? m * std::max(1, p_.leafNodes) : m;
    const long long l = std::lcm(static_cast<long long>(w_.period), clusterPeriod);
    if (l >= n || n % l != 0) return n;
    // XOR by multiples of R keeps r % R only when R is a power of two.
    if (w_.xorMap && (l & (l - 1)) != 0) return n;
    const int R = static_cast<int>(l);
    for (int r = 0; r < n; ++r) {
      if (w_.templateOf[static_cast<size_t>(r)] != w_.templateOf[static_cast<size_t>(r % R)])
        return n;
    }
    return R;
  }

  void setup() {
    const int n = w_.cluster.ranks();
    const int m = w_.cluster.ranksPerNode;
    R_ = choosePeriod();
    cpu_ =
        p_.coresPerNode > 0 && m > p_.coresPerNode ? static_cast<double>(m) / p_.coresPerNode : 1.0;
    nicsPerNode_ = p_.nicsPerNode > 0 ? std::min(p_.nicsPerNode, m) : m;
    const int simNodes = R_ / m;
    nicTx_.assign(static_cast<size_t>(simNodes * nicsPerNode_), Port{});
    nicRx_.assign(nicTx_.size(), Port{});
    const int leaves = spine() ? (simNodes + p_.leafNodes - 1) / p_.leafNodes : 0;
    leafUp_.assign(static_cast<size_t>(leaves), Port{});
    leafDown_.assign(static_cast<size_t>(leaves), Port{});
    leafBw_ = static_cast<double>(p_.leafNodes) * nicsPerNode_ * p_.nicGBps * kGB / p_.oversub;
    ranks_.resize(static_cast<size_t>(R_));
    for (int i = 0; i < R_; ++i) {
      Rank& rk = ranks_[static_cast<size_t>(i)];
      rk.t = &w_.templates[static_cast<size_t>(w_.templateOf[static_cast<size_t>(i)])];
      rk.waiting = rk.t->waiting0;
    }
    auto nicOf = [&](int simRank) {
      const int local = simRank % m;
      return static_cast<size_t>((simRank / m) * nicsPerNode_ + local * nicsPerNode_ / m);
    };
    for (int i = 0; i < R_; ++i) {
      Rank& rk = ranks_[static_cast<size_t>(i)];
      rk.chans.resize(rk.t->peers.size());
      for (size_t c = 0; c < rk.chans.size(); ++c) {
        Chan& ch = rk.chans[c];
        const int off = rk.t->peers[c];
        const int actual = peerOf(w_, i, c);
        ch.peer = actual % R_;
        size_t rc = 0;
        if (w_.xorMap) {
          // The simulated rank standing for `actual` is actual XOR k; it sees
          // this rank as i XOR k.
          const int rep = ch.peer, k = actual - rep;
          const Template& pt =
              w_.templates[static_cast<size_t>(w_.templateOf[static_cast<size_t>(rep)])];
          while (rc < pt.peers.size() && peerOf(w_, rep, rc) != (i ^ k)) ++rc;
          if (rc == pt.peers.size()) rc = kLocal;
        } else {
          const Template& pt =
              w_.templates[static_cast<size_t>(w_.templateOf[static_cast<size_t>(actual)])];
          const int back = (n - off) % n;
          while (rc < pt.peers.size() && pt.peers[rc] != back) ++rc;
          if (rc == pt.peers.size()) rc = kLocal;
        }
        if (rc == kLocal) {
          fail(shoalInternalError,
               "sim: %s: rank %d exchanges messages with rank %d, whose schedule never names it",
               w_.spec.algorithm.c_str(), i, actual);
        }
        ch.remote = static_cast<uint16_t>(rc);
        ch.credits = o_.slots;
        ch.inter = i / m != actual / m;
        if (ch.inter) {
          ch.lat = p_.nicLatUs * kUs;
          ch.bw = p_.nicGBps * kGB;
          ch.tx = &nicTx_[nicOf(i)];
          ch.rx = &nicRx_[nicOf(i)];
          if (spine() && (i / m) / p_.leafNodes != (actual / m) / p_.leafNodes) {
            ch.up = &leafUp_[static_cast<size_t>((i / m) / p_.leafNodes)];
            ch.down = &leafDown_[static_cast<size_t>((i / m) / p_.leafNodes)];
          }
        } else {
          ch.lat = p_.intraLatUs * kUs;
          ch.bw = p_.intraGBps * kGB;
          ch.tx = &rk.intraTx;
          ch.rx = &rk.intraRx;
        }
      }
    }
  }

  void push(Event e) {
    e.seq = seq_++;
    q_.push(e);
  }

  double wireBytes(const Chan& ch, uint64_t bytes) const {
    double b = static_cast<double>(bytes);
    if (ch.inter && p_.packetHeaderBytes > 0 && p_.mtuBytes > 0)
      b += std::ceil(b / p_.mtuBytes) * p_.packetHeaderBytes;
    return b;
  }

  double ctrlLat(const Chan& ch) const { return p_.ctrlLatUs >= 0 ? p_.ctrlLatUs * kUs : ch.lat; }

  // Reserves the rank's engine for `seconds` of work from `now`; returns the end.
  double engine(Rank& rk, double now, double seconds) {
    const double start = std::max(now, rk.engineFree);
    rk.engineFree = start + seconds * cpu_;
    return rk.engineFree;
  }

  void ready(int i, int32_t s, double now) {
    Rank& rk = ranks_[static_cast<size_t>(i)];
    const SimStep& st = rk.t->steps[static_cast<size_t>(s)];
    if (st.chan == kLocal) {
      const double bw = st.kind == StepKind::kAvg ? p_.reduceGBps : p_.copyGBps;
      const double end =
          engine(rk, now, p_.localStepUs * kUs + static_cast<double>(st.bytes) / (bw * kGB));
      push({end, 0, 0, i, s, -1, kLocal, kLocalDone});
    } else if (st.kind == StepKind::kSend) {
      trySend(i, st.chan, now);
    } else {
      tryRecv(i, st.chan, now);
    }
  }

  void trySend(int i, uint16_t c, double now) {
    Rank& rk = ranks_[static_cast<size_t>(i)];
    Chan& ch = rk.chans[c];
    const auto& q = rk.t->sendQ[c];
    while (ch.sendHead < q.size() && ch.credits > 0 &&
           rk.waiting[static_cast<size_t>(q[ch.sendHead])] == 0) {
      const int32_t s = q[ch.sendHead++];
      --ch.credits;
      const uint64_t bytes = rk.t->steps[static_cast<size_t>(s)].bytes;
      double work = p_.stepUs * kUs;
      if (p_.senderCopyGBps > 0) work += static_cast<double>(bytes) / (p_.senderCopyGBps * kGB);
      const double post = engine(rk, now, work);
      const double ser = wireBytes(ch, bytes) / ch.bw;
      const double txStart = std::max(post, ch.tx->free);
      ch.tx->free = txStart + ser;
      double head = txStart, tail = ch.tx->free;
      if (ch.up) {
        const double us = std::max(txStart, ch.up->free);
        ch.up->free = us + wireBytes(ch, bytes) / leafBw_;
        head = us;
        tail = std::max(tail, ch.up->free);
      }
      ++rk.sentMsgs;
      rk.sentBytes += bytes;
      push({head + ch.lat, 0, tail + ch.lat, ch.peer, s, i, ch.remote, kArrive});
      // A shared-memory write is a copy the sender finishes itself.
      if (p_.senderCopyGBps > 0) push({post, 0, 0, i, s, -1, c, kSendDone});
    }
  }

  void tryRecv(int i, uint16_t c, double now) {
    Rank& rk = ranks_[static_cast<size_t>(i)];
    Chan& ch = rk.chans[c];
    const auto& q = rk.t->recvQ[c];
    while (ch.recvHead < q.size() && ch.arrived > 0 &&
           rk.waiting[static_cast<size_t>(q[ch.recvHead])] == 0) {
      const int32_t s = q[ch.recvHead++];
      --ch.arrived;
      const SimStep& st = rk.t->steps[static_cast<size_t>(s)];
      const double bw = st.kind == StepKind::kRecvReduce ? p_.reduceGBps : p_.copyGBps;
      const double end =
          engine(rk, now, p_.stepUs * kUs + static_cast<double>(st.bytes) / (bw * kGB));
      push({end, 0, 0, i, s, -1, c, kRecvDone});
    }
  }

  void complete(int i, int32_t s, double now) {
    Rank& rk = ranks_[static_cast<size_t>(i)];
    ++rk.completed;
    last_ = std::max(last_, now);
    const Template& t = *rk.t;
    for (int32_t k = t.depBegin[static_cast<size_t>(s)]; k < t.depBegin[static_cast<size_t>(s) + 1];
         ++k) {
      const int32_t d = t.depList[static_cast<size_t>(k)];
      if (--rk.waiting[static_cast<size_t>(d)] == 0) ready(i, d, now);
    }
  }

  void handle(const Event& e) {
    Rank& rk = ranks_[static_cast<size_t>(e.rank)];
    switch (e.type) {
      case kArrive: {
        Chan& ch = rk.chans[e.chan];
        const Rank& sender = ranks_[static_cast<size_t>(e.peer)];
        const uint64_t bytes = sender.t->steps[static_cast<size_t>(e.step)].bytes;
        const auto& q = rk.t->recvQ[e.chan];
        const uint32_t nth = ch.arrivedTotal++;
        if (nth >= q.size() || rk.t->steps[static_cast<size_t>(q[nth])].bytes != bytes) {
          fail(shoalInternalError,
               "sim: %s: message %u from rank %d to rank %d (%llu bytes) has no matching receive "
               "(%s)",
               w_.spec.algorithm.c_str(), nth, e.peer, e.rank,
               static_cast<unsigned long long>(bytes),
               nth >= q.size() ? "more messages than receives" : "sizes differ");
        }
        double head = e.t;
        const double wire = wireBytes(ch, bytes);
        if (ch.down) {
          const double ds = std::max(head, ch.down->free);
          ch.down->free = ds + wire / leafBw_;
          head = ds;
        }
        const double rs = std::max(head, ch.rx->free);
        ch.rx->free = rs + wire / ch.bw;
        const double delivered = std::max(ch.rx->free, e.tail);
        ++rk.recvMsgs;
        rk.recvBytes += bytes;
        push({delivered, 0, 0, e.rank, -1, -1, e.chan, kDeliver});
        if (p_.senderCopyGBps <= 0) {
          const Chan& back = sender.chans[ch.remote];
          push({delivered + back.lat, 0, 0, e.peer, e.step, -1, ch.remote, kSendDone});
        }
        break;
      }
      case kDeliver:
        ++rk.chans[e.chan].arrived;
        tryRecv(e.rank, e.chan, e.t);
        break;
      case kRecvDone: {
        complete(e.rank, e.step, e.t);
        const Chan& ch = rk.chans[e.chan];
        push({e.t + ctrlLat(ch), 0, 0, ch.peer, -1, -1, ch.remote, kCredit});
        break;
      }
      case kCredit:
        ++rk.chans[e.chan].credits;
        trySend(e.rank, e.chan, e.t);
        break;
      case kSendDone:
      case kLocalDone:
        complete(e.rank, e.step, e.t);
        break;
    }
  }

  void checkFinished() const {
    for (int i = 0; i < R_; ++i) {
      const Rank& rk = ranks_[static_cast<size_t>(i)];
      if (rk.completed == rk.t->steps.size()) continue;
      std::string detail;
      for (size_t c = 0; c < rk.chans.size(); ++c) {
        const Chan& ch = rk.chans[c];
        detail += " peer " + std::to_string(peerOf(w_, i, c)) + ": sent " +
                  std::to_string(ch.sendHead) + "/" + std::to_string(rk.t->sendQ[c].size()) +
                  " (credits " + std::to_string(ch.credits) + "), received " +
                  std::to_string(ch.recvHead) + "/" + std::to_string(rk.t->recvQ[c].size()) + ";";
      }
      fail(shoalInternalError, "sim: %s deadlocks: rank %d finished %zu of %zu steps;%s",
           w_.spec.algorithm.c_str(), i, rk.completed, rk.t->steps.size(), detail.c_str());
    }
  }

  const Workload& w_;
  const Profile& p_;
  EngineOptions o_;
  int R_ = 0;
  double cpu_ = 1;
  int nicsPerNode_ = 1;
  double leafBw_ = 1;
  std::vector<Rank> ranks_;
  std::vector<Port> nicTx_, nicRx_, leafUp_, leafDown_;
  std::priority_queue<Event, std::vector<Event>, Later> q_;
  uint64_t seq_ = 0, events_ = 0;
  double last_ = 0;
};

}  // namespace

RunResult simulate(const Workload& w, const Profile& p, const EngineOptions& o) {
  if (o.slots < 1) fail(shoalInvalidArgument, "sim: slots=%d must be at least 1", o.slots);
  Engine e(w, p, o);
  return e.run();
}

}  // namespace shoal::sim
