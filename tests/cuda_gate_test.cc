// The stream gate (cuda/stream_gate.h) that parks a caller's stream behind a
// stream-ordered call, in both of its forms (SHOAL_CUDA_GATE=auto uses
// cuStreamWaitValue64 where the GPU has it; kernel forces the polling
// kernel): work queued behind a held ticket does not run until the ticket is
// released, a later ticket releases the earlier ones, and a gate that goes
// away releases what it still holds.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "core/deadline.h"
#include "cuda/cuda_api.h"
#include "cuda/stream_gate.h"
#include "util/multiprocess.h"

namespace shoal {
namespace {

class CudaGate : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    SHOAL_SKIP_UNLESS_CUDA();
    setenv("SHOAL_CUDA_GATE", GetParam(), 1);
    cuda::setDevice(0);
    for (auto& s : streams_) s = cuda::createStream();
    for (auto& e : events_) e = cuda::createEvent();
  }
  void TearDown() override {
    for (auto e : events_) cuda::destroyEvent(e);
    for (auto s : streams_) cuda::destroyStream(s);
    unsetenv("SHOAL_CUDA_GATE");
  }
  // The event stays pending for a while: the stream is really held.
  static void expectHeld(cuda::Event e, const char* what) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(cuda::eventDone(e)) << what << ": work behind the gate ran before its release";
  }
  static void expectPasses(cuda::Stream s, const char* what) {
    cuda::streamSync(s, Deadline::after(10), what);  // throws shoalTimeout if still parked
  }
  cuda::Stream streams_[2] = {};
  cuda::Event events_[2] = {};
};

TEST_P(CudaGate, HoldsEachTicketUntilItIsReleased) {
  cuda::StreamGate gate;
  const std::string mode = gate.mode(0);
  if (std::string(GetParam()) == "kernel") {
    EXPECT_EQ(mode, "kernel");
  }
  EXPECT_TRUE(mode == "memop" || mode == "kernel") << mode;
  std::printf("gate on GPU 0 with SHOAL_CUDA_GATE=%s: %s\n", GetParam(), mode.c_str());
  for (uint64_t t = 1; t <= 3; ++t) {
    gate.hold(streams_[0], t, 60);
    cuda::recordEvent(events_[0], streams_[0]);
    expectHeld(events_[0], "ticket held");
    gate.release(t);
    expectPasses(streams_[0], "released ticket");
    EXPECT_TRUE(cuda::eventDone(events_[0]));
  }
}

TEST_P(CudaGate, ALaterTicketReleasesEarlierOnes) {
  cuda::StreamGate gate;
  gate.hold(streams_[0], 1, 60);
  cuda::recordEvent(events_[0], streams_[0]);
  gate.hold(streams_[1], 2, 60);
  cuda::recordEvent(events_[1], streams_[1]);
  expectHeld(events_[0], "ticket 1");
  expectHeld(events_[1], "ticket 2");
  gate.release(2);
  expectPasses(streams_[0], "ticket 1 after releasing 2");
  expectPasses(streams_[1], "ticket 2");
}

TEST_P(CudaGate, DestroyingTheGateReleasesWhatItHolds) {
  {
    cuda::StreamGate gate;
    gate.hold(streams_[0], 1, 60);
    gate.hold(streams_[0], 2, 60);
    cuda::recordEvent(events_[0], streams_[0]);
    expectHeld(events_[0], "before destruction");
  }
  expectPasses(streams_[0], "after the gate went away");
}

INSTANTIATE_TEST_SUITE_P(Modes, CudaGate, ::testing::Values("auto", "kernel"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace shoal
