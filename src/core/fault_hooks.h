// Test-only fault injection (SHOAL_TEST_* in config_table.inc), so the fault
// matrix in tests/faults can kill or stop a rank at a precise phase or make it
// send a malformed control message. Read once per communicator; when unset,
// each phase point costs one predictable branch.
#pragma once

#include <cstdint>
#include <string>

namespace shoal::faults {

enum class Phase : uint8_t {
  kNone,
  kBootstrap,  // after the rendezvous and mesh, before the transport is chosen
  kConnect,    // after the transport connected, before the executor exchanged its slots
  kReduce,     // first data step of a collective's reducing half ("reducescatter" or "up")
  kGather,     // first data step of its distributing half ("allgather" or "down")
  kPsPush,     // parameter server ("push"): a worker's push write, a push landing at a server
  kPsPull,     // parameter server ("pull"): a worker's pull request, one reaching a server
};

struct Hooks {
  Phase killAt = Phase::kNone;
  Phase stopAt = Phase::kNone;
  // Collective phases fire from this collective on; PS phases from this
  // operation on (a worker's push/pull count, a server's per-partition one).
  uint64_t fromSequence = 1;
  bool corruptCtrl = false;
  // A peer that misuses the GPU slot protocol (core/ipc_slots.h): announce
  // sends the same half of an announcement twice, write flags data as in the
  // receiver's GPU slot, which it never offered.
  enum class FakeSlots : uint8_t { kNone, kAnnounce, kWrite };
  FakeSlots fakeSlots = FakeSlots::kNone;
  bool any() const {
    return killAt != Phase::kNone || stopAt != Phase::kNone || corruptCtrl ||
           fakeSlots != FakeSlots::kNone;
  }
};

// Hooks that apply to `rank`. Throws shoalInvalidArgument on a malformed value.
Hooks load(int rank);
// Parses "phase:rank[:sequence]"; false when it names another rank.
bool parseSpec(const std::string& spec, int rank, Phase* phase, uint64_t* sequence);
// SIGKILL or SIGSTOP this process when a hook names this phase.
void reached(const Hooks& hooks, Phase phase, uint64_t sequence = 1);

}  // namespace shoal::faults
