#include "util/schedule_sim.h"

#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <sstream>

#include "core/reduce.h"

namespace shoal::test {

namespace {

struct Message {
  std::vector<char> data;
  size_t bytes;
  uint64_t knowledge;
};

struct RankState {
  const Schedule* sch = nullptr;
  SimBuffers bufs;
  std::vector<char> scratch;
  std::vector<int32_t> waiting;
  std::vector<std::vector<int32_t>> dependents;
  std::vector<uint8_t> done;
  std::vector<uint64_t> knowledge;  // per step
  std::vector<uint64_t> seqOf;      // per send step: its number among sends to that peer
  std::vector<std::vector<int32_t>> sendQ, recvQ;
  std::vector<size_t> sendHead, recvHead;
  std::vector<int> credits;          // for sends to each peer
  std::vector<uint64_t> sendSeq;     // per peer
  std::vector<uint64_t> recvSeq;     // per peer
  std::vector<uint32_t> owed;        // credits to hand back to each peer
  std::vector<int32_t> readyLocal;   // local steps whose deps are met
  std::vector<int32_t> issued;       // sends issued, source not read yet
  std::vector<int32_t> transferred;  // sends whose source was read, not completed
  size_t completed = 0;
};

class Sim {
 public:
  Sim(const std::vector<Schedule>& s, const std::vector<SimBuffers>& b, const SimOptions& o)
      : opt_(o), rng_(o.seed), n_(static_cast<int>(s.size())), es_(dtypeSize(o.dtype)) {
    ranks_.resize(static_cast<size_t>(n_));
    // Channel from a to b: messages by sequence number.
    channels_.resize(static_cast<size_t>(n_) * static_cast<size_t>(n_));
    for (int r = 0; r < n_; ++r) {
      RankState& st = ranks_[r];
      st.sch = &s[r];
      st.bufs = b[r];
      st.scratch.assign(s[r].scratchBytes, static_cast<char>(0xcd));
      const size_t total = s[r].steps.size();
      st.waiting.assign(total, 0);
      st.dependents.resize(total);
      st.done.assign(total, 0);
      st.knowledge.assign(total, uint64_t{1} << r);
      st.seqOf.assign(total, 0);
      st.sendQ.resize(n_);
      st.recvQ.resize(n_);
      st.sendHead.assign(n_, 0);
      st.recvHead.assign(n_, 0);
      st.credits.assign(n_, o.slots);
      st.sendSeq.assign(n_, 0);
      st.recvSeq.assign(n_, 0);
      st.owed.assign(n_, 0);
    }
  }

  SimResult run() {
    SimResult res;
    if (!validate()) {
      res.error = error_;
      return res;
    }
    for (;;) {
      collect();
      if (!error_.empty()) break;
      if (actions_.empty()) {
        if (!allDone()) error_ = "deadlock:" + stuckReport();
        break;
      }
      std::uniform_int_distribution<size_t> pick(0, actions_.size() - 1);
      perform(actions_[pick(rng_)]);
      if (!error_.empty()) break;
    }
    res.error = error_;
    res.messages = messages_;
    for (int r = 0; r < n_; ++r) {
      const RankState& st = ranks_[r];
      uint64_t k = uint64_t{1} << r;
      for (uint64_t x : st.knowledge) k |= x;
      res.heardFrom.push_back(k);
    }
    return res;
  }

 private:
  enum Kind { kLocal, kIssue, kTransfer, kComplete, kReceive, kCredit };
  struct Action {
    Kind kind;
    int rank;
    int peer;    // kIssue/kReceive/kCredit
    size_t idx;  // index into readyLocal / issued / transferred
  };

  std::string where(int r, int32_t i) const {
    std::ostringstream os;
    os << "rank " << r << " step " << i;
    return os.str();
  }

  bool validate() {
    for (int r = 0; r < n_; ++r) {
      RankState& st = ranks_[r];
      const auto& steps = st.sch->steps;
      for (size_t i = 0; i < steps.size(); ++i) {
        const Step& s = steps[i];
        for (int32_t d : s.dep) {
          if (d < 0) continue;
          if (static_cast<size_t>(d) >= i) {
            error_ = where(r, static_cast<int32_t>(i)) + " depends on a later step";
            return false;
          }
          ++st.waiting[i];
          st.dependents[d].push_back(static_cast<int32_t>(i));
        }
        const bool net = s.kind == StepKind::kSend || s.kind == StepKind::kRecv ||
                         s.kind == StepKind::kRecvReduce;
        if (net) {
          if (s.peer < 0 || s.peer >= n_ || s.peer == r) {
            error_ = where(r, static_cast<int32_t>(i)) + " has bad peer " + std::to_string(s.peer);
            return false;
          }
          if (opt_.chunkBytes && s.bytes > opt_.chunkBytes) {
            error_ = where(r, static_cast<int32_t>(i)) + " moves " + std::to_string(s.bytes) +
                     " bytes, over the chunk size " + std::to_string(opt_.chunkBytes);
            return false;
          }
          (s.kind == StepKind::kSend ? st.sendQ : st.recvQ)[s.peer].push_back(
              static_cast<int32_t>(i));
        } else if (s.peer >= 0) {
          error_ = where(r, static_cast<int32_t>(i)) + " is local but names a peer";
          return false;
        }
        if ((s.kind == StepKind::kRecvReduce || s.kind == StepKind::kAvg) && s.bytes % es_) {
          error_ = where(r, static_cast<int32_t>(i)) + " reduces a partial element";
          return false;
        }
      }
      for (size_t i = 0; i < steps.size(); ++i) {
        if (st.waiting[i] == 0 && steps[i].peer < 0)
          st.readyLocal.push_back(static_cast<int32_t>(i));
      }
    }
    return true;
  }

  char* resolve(int r, BufRef ref, size_t bytes, int32_t step) {
    RankState& st = ranks_[r];
    char* base = nullptr;
    size_t size = 0;
    switch (ref.buf) {
      case BufId::kSend:
        base = const_cast<char*>(static_cast<const char*>(st.bufs.send));
        size = st.bufs.sendBytes;
        break;
      case BufId::kRecv:
        base = static_cast<char*>(st.bufs.recv);
        size = st.bufs.recvBytes;
        break;
      case BufId::kScratch:
        base = st.scratch.data();
        size = st.scratch.size();
        break;
    }
    if (bytes == 0) return base;
    if (!base || ref.offset > size || bytes > size - ref.offset) {
      static const char* names[] = {"send", "recv", "scratch"};
      error_ = where(r, step) + " accesses " + names[static_cast<int>(ref.buf)] + "[" +
               std::to_string(ref.offset) + ", +" + std::to_string(bytes) + ") of a " +
               std::to_string(size) + "-byte buffer";
      return nullptr;
    }
    return base + ref.offset;
  }

  // A write must not touch memory a send issued on this rank still reads.
  bool checkWrite(int r, const char* dst, size_t bytes, int32_t step) {
    if (bytes == 0) return true;
    RankState& st = ranks_[r];
    for (int32_t s : st.issued) {
      const Step& x = st.sch->steps[s];
      const char* src = resolve(r, x.src, x.bytes, s);
      if (src && x.bytes && src < dst + bytes && dst < src + x.bytes) {
        error_ = where(r, step) + " overwrites memory that send step " + std::to_string(s) +
                 " (to rank " + std::to_string(x.peer) + ") may still be reading";
        return false;
      }
    }
    return true;
  }

  void complete(int r, int32_t i) {
    RankState& st = ranks_[r];
    st.done[i] = 1;
    ++st.completed;
    for (int32_t d : st.dependents[i]) {
      st.knowledge[d] |= st.knowledge[i];
      if (--st.waiting[d] == 0 && st.sch->steps[d].peer < 0) st.readyLocal.push_back(d);
    }
  }

  std::map<uint64_t, Message>& channel(int from, int to) {
    return channels_[static_cast<size_t>(from) * static_cast<size_t>(n_) + static_cast<size_t>(to)];
  }

  void collect() {
    actions_.clear();
    for (int r = 0; r < n_; ++r) {
      RankState& st = ranks_[r];
      for (size_t i = 0; i < st.readyLocal.size(); ++i) actions_.push_back({kLocal, r, -1, i});
      for (size_t i = 0; i < st.issued.size(); ++i) actions_.push_back({kTransfer, r, -1, i});
      for (size_t i = 0; i < st.transferred.size(); ++i) actions_.push_back({kComplete, r, -1, i});
      for (int p = 0; p < n_; ++p) {
        if (p == r) continue;
        auto& sq = st.sendQ[p];
        size_t h = st.sendHead[p];
        if (h < sq.size() && st.waiting[sq[h]] == 0 && st.credits[p] > 0)
          actions_.push_back({kIssue, r, p, 0});
        auto& rq = st.recvQ[p];
        h = st.recvHead[p];
        if (h < rq.size() && st.waiting[rq[h]] == 0 && channel(p, r).count(st.recvSeq[p]))
          actions_.push_back({kReceive, r, p, 0});
        if (st.owed[p]) actions_.push_back({kCredit, r, p, 0});
      }
    }
  }

  void perform(const Action& a) {
    RankState& st = ranks_[a.rank];
    const int r = a.rank;
    switch (a.kind) {
      case kLocal: {
        int32_t i = st.readyLocal[a.idx];
        st.readyLocal.erase(st.readyLocal.begin() + static_cast<ptrdiff_t>(a.idx));
        const Step& s = st.sch->steps[i];
        char* dst = resolve(r, s.dst, s.bytes, i);
        if (!error_.empty() || !checkWrite(r, dst, s.bytes, i)) return;
        if (s.kind == StepKind::kCopy) {
          const char* src = resolve(r, s.src, s.bytes, i);
          if (!error_.empty()) return;
          if (s.bytes) memmove(dst, src, s.bytes);
        } else if (s.kind == StepKind::kAvg) {
          if (s.bytes) finalizeAvg(dst, s.bytes / es_, opt_.dtype, n_);
        } else {
          error_ = where(r, i) + " has an unknown local kind";
          return;
        }
        complete(r, i);
        break;
      }
      case kIssue: {
        int32_t i = st.sendQ[a.peer][st.sendHead[a.peer]++];
        --st.credits[a.peer];
        st.seqOf[i] = st.sendSeq[a.peer]++;
        st.issued.push_back(i);
        break;
      }
      case kTransfer: {
        int32_t i = st.issued[a.idx];
        st.issued.erase(st.issued.begin() + static_cast<ptrdiff_t>(a.idx));
        const Step& s = st.sch->steps[i];
        const char* src = resolve(r, s.src, s.bytes, i);
        if (!error_.empty()) return;
        Message m;
        m.bytes = s.bytes;
        if (s.bytes) m.data.assign(src, src + s.bytes);
        m.knowledge = st.knowledge[i];
        channel(r, s.peer).emplace(st.seqOf[i], std::move(m));
        st.transferred.push_back(i);
        ++messages_;
        break;
      }
      case kComplete: {
        int32_t i = st.transferred[a.idx];
        st.transferred.erase(st.transferred.begin() + static_cast<ptrdiff_t>(a.idx));
        complete(r, i);
        break;
      }
      case kReceive: {
        int32_t i = st.recvQ[a.peer][st.recvHead[a.peer]++];
        auto& ch = channel(a.peer, r);
        auto it = ch.find(st.recvSeq[a.peer]);
        Message m = std::move(it->second);
        ch.erase(it);
        ++st.recvSeq[a.peer];
        const Step& s = st.sch->steps[i];
        if (m.bytes != s.bytes) {
          error_ = where(r, i) + " expects " + std::to_string(s.bytes) + " bytes from rank " +
                   std::to_string(a.peer) + " but the matching send carries " +
                   std::to_string(m.bytes);
          return;
        }
        char* dst = resolve(r, s.dst, s.bytes, i);
        if (!error_.empty() || !checkWrite(r, dst, s.bytes, i)) return;
        if (s.kind == StepKind::kRecv) {
          if (s.bytes) memcpy(dst, m.data.data(), s.bytes);
        } else {
          const char* src = resolve(r, s.src, s.bytes, i);
          if (!error_.empty()) return;
          if (s.bytes) reduce(dst, src, m.data.data(), s.bytes / es_, opt_.dtype, opt_.op);
        }
        st.knowledge[i] |= m.knowledge;
        ++st.owed[a.peer];
        complete(r, i);
        break;
      }
      case kCredit: {
        ranks_[a.peer].credits[r] += static_cast<int>(st.owed[a.peer]);
        st.owed[a.peer] = 0;
        break;
      }
    }
  }

  bool allDone() const {
    for (const auto& st : ranks_) {
      if (st.completed != st.sch->steps.size()) return false;
    }
    return true;
  }

  std::string stuckReport() const {
    std::ostringstream os;
    for (int r = 0; r < n_; ++r) {
      const RankState& st = ranks_[r];
      if (st.completed == st.sch->steps.size()) continue;
      os << " rank " << r << ": " << st.completed << "/" << st.sch->steps.size() << " done";
      for (int p = 0; p < n_; ++p) {
        if (p == r) continue;
        if (st.sendHead[p] < st.sendQ[p].size())
          os << ", send " << st.sendHead[p] << "/" << st.sendQ[p].size() << " to " << p << " (step "
             << st.sendQ[p][st.sendHead[p]] << ", credits " << st.credits[p] << ")";
        if (st.recvHead[p] < st.recvQ[p].size())
          os << ", recv " << st.recvHead[p] << "/" << st.recvQ[p].size() << " from " << p
             << " (step " << st.recvQ[p][st.recvHead[p]] << ")";
      }
      os << ";";
    }
    return os.str();
  }

  SimOptions opt_;
  std::mt19937_64 rng_;
  int n_;
  size_t es_;
  std::vector<RankState> ranks_;
  std::vector<std::map<uint64_t, Message>> channels_;
  std::vector<Action> actions_;
  std::string error_;
  size_t messages_ = 0;
};

}  // namespace

SimResult simulate(const std::vector<Schedule>& schedules, const std::vector<SimBuffers>& buffers,
                   const SimOptions& options) {
  Sim sim(schedules, buffers, options);
  return sim.run();
}

}  // namespace shoal::test
