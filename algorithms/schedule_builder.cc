#include "algorithms/schedule_builder.h"

#include <algorithm>
#include <cstdint>

#include "core/reduce.h"

namespace shoal::algorithms {

namespace {
constexpr int kSendSpace = 0;
constexpr int kRecvSpace = 1;
constexpr int kScratchSpace = 2;
}  // namespace

ScheduleBuilder::ScheduleBuilder(Schedule& s, const CollArgs& a)
    : sched_(s),
      es_(dtypeSize(a.dtype)),
      chunkElems_(std::max<size_t>(1, a.chunkBytes / dtypeSize(a.dtype))),
      recvSpace_(kRecvSpace),
      recvShift_(0),
      sendSpace_(kSendSpace) {
  if (a.inPlace) {
    switch (a.kind) {
      case CollKind::kReduceScatter:
        // recvbuff == sendbuff + rank * recvcount
        recvSpace_ = kSendSpace;
        recvShift_ = static_cast<size_t>(a.rank) * a.count * es_;
        break;
      case CollKind::kAllGather:
        // The executor passes recvbuff as the send buffer.
        sendSpace_ = kRecvSpace;
        break;
      default:
        recvSpace_ = kSendSpace;
        break;
    }
  }
  for (auto& sp : spaces_) {
    Span all;
    all.end = SIZE_MAX;
    sp.emplace(0, std::move(all));
  }
}

ScheduleBuilder::Range ScheduleBuilder::locate(BufRef ref, size_t bytes) const {
  switch (ref.buf) {
    case BufId::kSend:
      return {sendSpace_, ref.offset, ref.offset + bytes};
    case BufId::kRecv:
      return {recvSpace_, ref.offset + recvShift_, ref.offset + recvShift_ + bytes};
    case BufId::kScratch:
      break;
  }
  return {kScratchSpace, ref.offset, ref.offset + bytes};
}

ScheduleBuilder::Space::iterator ScheduleBuilder::splitAt(Space& sp, size_t at) {
  auto it = std::prev(sp.upper_bound(at));
  if (it->first == at) return it;
  Span tail = it->second;
  it->second.end = at;
  return sp.emplace_hint(std::next(it), at, std::move(tail));
}

void ScheduleBuilder::readDeps(const Range& r, std::vector<int32_t>& deps) {
  if (r.begin == r.end) return;
  Space& sp = spaces_[r.space];
  for (auto it = std::prev(sp.upper_bound(r.begin)); it != sp.end() && it->first < r.end; ++it) {
    if (it->second.writer >= 0) deps.push_back(it->second.writer);
  }
}

void ScheduleBuilder::writeDeps(const Range& r, std::vector<int32_t>& deps) {
  if (r.begin == r.end) return;
  Space& sp = spaces_[r.space];
  for (auto it = std::prev(sp.upper_bound(r.begin)); it != sp.end() && it->first < r.end; ++it) {
    // Readers since the last write already waited for it.
    if (!it->second.readers.empty()) {
      deps.insert(deps.end(), it->second.readers.begin(), it->second.readers.end());
    } else if (it->second.writer >= 0) {
      deps.push_back(it->second.writer);
    }
  }
}

void ScheduleBuilder::noteRead(const Range& r, int32_t step) {
  if (r.begin == r.end) return;
  Space& sp = spaces_[r.space];
  auto first = splitAt(sp, r.begin);
  auto last = splitAt(sp, r.end);
  for (auto it = first; it != last; ++it) it->second.readers.push_back(step);
}

void ScheduleBuilder::noteWrite(const Range& r, int32_t step) {
  if (r.begin == r.end) return;
  Space& sp = spaces_[r.space];
  auto first = splitAt(sp, r.begin);
  auto last = splitAt(sp, r.end);
  sp.erase(first, last);
  Span s;
  s.end = r.end;
  s.writer = step;
  sp.emplace(r.begin, std::move(s));
}

int32_t ScheduleBuilder::join(std::vector<int32_t> deps) {
  std::sort(deps.begin(), deps.end());
  deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
  if (deps.empty()) return -1;
  // Pairwise joins until one step stands for all of them.
  while (deps.size() > 1) {
    std::vector<int32_t> next;
    for (size_t i = 0; i + 1 < deps.size(); i += 2) {
      Step j{StepKind::kCopy, -1, {BufId::kScratch, 0}, {BufId::kScratch, 0}, 0};
      j.dep[0] = deps[i];
      j.dep[1] = deps[i + 1];
      next.push_back(sched_.add(j));
    }
    if (deps.size() % 2) next.push_back(deps.back());
    deps.swap(next);
  }
  return deps[0];
}

int32_t ScheduleBuilder::emit(Step step, std::vector<int32_t> deps) {
  std::sort(deps.begin(), deps.end());
  deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
  if (deps.size() > 2) {
    // Keep the newest dependency direct and join the rest.
    int32_t last = deps.back();
    deps.pop_back();
    deps = {join(std::move(deps)), last};
  }
  for (size_t i = 0; i < deps.size(); ++i) step.dep[i] = deps[i];
  return sched_.add(step);
}

int32_t ScheduleBuilder::send(int peer, BufRef src, size_t bytes,
                              std::initializer_list<int32_t> after) {
  Range r = locate(src, bytes);
  std::vector<int32_t> deps;
  for (int32_t d : after) {
    if (d >= 0) deps.push_back(d);
  }
  readDeps(r, deps);
  Step s{StepKind::kSend, peer};
  s.src = src;
  s.bytes = bytes;
  int32_t idx = emit(s, std::move(deps));
  noteRead(r, idx);
  return idx;
}

int32_t ScheduleBuilder::recv(int peer, BufRef dst, size_t bytes,
                              std::initializer_list<int32_t> after) {
  Range r = locate(dst, bytes);
  std::vector<int32_t> deps;
  for (int32_t d : after) {
    if (d >= 0) deps.push_back(d);
  }
  writeDeps(r, deps);
  Step s{StepKind::kRecv, peer};
  s.dst = dst;
  s.bytes = bytes;
  int32_t idx = emit(s, std::move(deps));
  noteWrite(r, idx);
  return idx;
}

int32_t ScheduleBuilder::recvReduce(int peer, BufRef dst, BufRef src, size_t bytes) {
  Range rd = locate(dst, bytes);
  Range rs = locate(src, bytes);
  std::vector<int32_t> deps;
  readDeps(rs, deps);
  writeDeps(rd, deps);
  Step s{StepKind::kRecvReduce, peer, dst, src, bytes};
  int32_t idx = emit(s, std::move(deps));
  noteRead(rs, idx);
  noteWrite(rd, idx);
  return idx;
}

int32_t ScheduleBuilder::copy(BufRef dst, BufRef src, size_t bytes) {
  Range rd = locate(dst, bytes);
  Range rs = locate(src, bytes);
  if (rd.space == rs.space && rd.begin == rs.begin) return -1;  // same memory
  std::vector<int32_t> deps;
  readDeps(rs, deps);
  writeDeps(rd, deps);
  Step s{StepKind::kCopy, -1, dst, src, bytes};
  int32_t idx = emit(s, std::move(deps));
  noteRead(rs, idx);
  noteWrite(rd, idx);
  return idx;
}

int32_t ScheduleBuilder::avg(BufRef dst, size_t bytes) {
  Range r = locate(dst, bytes);
  std::vector<int32_t> deps;
  writeDeps(r, deps);
  Step s{StepKind::kAvg, -1, dst, dst, bytes};
  int32_t idx = emit(s, std::move(deps));
  noteWrite(r, idx);
  return idx;
}

bool planWithoutPeers(ScheduleBuilder& b, const CollArgs& a) {
  if (a.count == 0) return true;
  if (a.nranks != 1) return false;
  b.copy({BufId::kRecv, 0}, {BufId::kSend, 0}, a.count * b.elemSize());
  return true;
}

}  // namespace shoal::algorithms
