#include "core/fault_hooks.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

namespace shoal::faults {

namespace {

Phase phaseNamed(const std::string& name) {
  if (name == "bootstrap") return Phase::kBootstrap;
  if (name == "connect") return Phase::kConnect;
  if (name == "reducescatter" || name == "up") return Phase::kReduce;
  if (name == "allgather" || name == "down") return Phase::kGather;
  if (name == "push") return Phase::kPsPush;
  if (name == "pull") return Phase::kPsPull;
  return Phase::kNone;
}

}  // namespace

bool parseSpec(const std::string& spec, int rank, Phase* phase, uint64_t* sequence) {
  size_t c1 = spec.find(':');
  if (c1 == std::string::npos)
    fail(shoalInvalidArgument, "test hook '%s': expected phase:rank", spec.c_str());
  size_t c2 = spec.find(':', c1 + 1);
  Phase p = phaseNamed(spec.substr(0, c1));
  if (p == Phase::kNone) {
    fail(shoalInvalidArgument,
         "test hook '%s': unknown phase (bootstrap, connect, reducescatter, "
         "allgather, up, down, push, pull)",
         spec.c_str());
  }
  std::string who = spec.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1);
  char* end = nullptr;
  long r = strtol(who.c_str(), &end, 10);
  if (who.empty() || *end != '\0')
    fail(shoalInvalidArgument, "test hook '%s': bad rank", spec.c_str());
  uint64_t seq = 1;
  if (c2 != std::string::npos) seq = strtoull(spec.c_str() + c2 + 1, nullptr, 10);
  if (r != rank) return false;
  *phase = p;
  *sequence = seq;
  return true;
}

Hooks load(int rank) {
  Hooks h;
  std::string kill = config::getString("SHOAL_TEST_KILL_AT");
  std::string stop = config::getString("SHOAL_TEST_STOP_AT");
  std::string corrupt = config::getString("SHOAL_TEST_CORRUPT_CTRL");
  if (!kill.empty()) parseSpec(kill, rank, &h.killAt, &h.fromSequence);
  if (!stop.empty()) parseSpec(stop, rank, &h.stopAt, &h.fromSequence);
  if (!corrupt.empty()) h.corruptCtrl = atoi(corrupt.c_str()) == rank;
  std::string fake = config::getString("SHOAL_TEST_FAKE_GPU_SLOTS");
  if (!fake.empty()) {
    const size_t colon = fake.find(':');
    const std::string mode = colon == std::string::npos ? "" : fake.substr(colon + 1);
    if (mode != "announce" && mode != "write") {
      fail(shoalInvalidArgument,
           "test hook SHOAL_TEST_FAKE_GPU_SLOTS='%s': want rank:announce or "
           "rank:write",
           fake.c_str());
    }
    if (atoi(fake.c_str()) == rank) {
      h.fakeSlots = mode == "announce" ? Hooks::FakeSlots::kAnnounce : Hooks::FakeSlots::kWrite;
    }
  }
  return h;
}

void reached(const Hooks& hooks, Phase phase, uint64_t sequence) {
  if (sequence < hooks.fromSequence) return;
  if (hooks.killAt == phase) {
    SHOAL_INFO(ALL, "test hook: SIGKILL at phase %d", static_cast<int>(phase));
    raise(SIGKILL);
  }
  if (hooks.stopAt == phase) {
    SHOAL_INFO(ALL, "test hook: SIGSTOP at phase %d", static_cast<int>(phase));
    raise(SIGSTOP);
  }
}

}  // namespace shoal::faults
