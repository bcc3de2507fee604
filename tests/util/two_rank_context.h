// Two real rank processes, each with a bootstrap and a connected transport
// context and nothing above them: for tests of a transport's own behaviour.
#pragma once

#include <cstring>
#include <functional>

#include "core/bootstrap.h"
#include "transports/context.h"
#include "transports/device.h"
#include "util/multiprocess.h"

namespace shoal::test {

using TwoRankBody = std::function<void(int rank, transport::Context&, Bootstrap&, Deadline)>;

// Runs body on ranks 0 and 1 over `transport` (60 s deadline each), then
// quiesces and tears down, and expects both ranks to have passed.
inline void runTwoRankContexts(const char* transport, const TwoRankBody& body) {
  MultiProcessOptions opts;
  opts.timeoutSeconds = 120;
  auto results = runRanks(
      2,
      [&](int rank, int n, const shoalUniqueId& id) {
        UniqueIdData data;
        memcpy(&data, id.internal, sizeof(data));
        Deadline deadline = Deadline::after(60);
        auto boot = Bootstrap::create(data, rank, n, deadline);
        auto ctx = transport::findDevice(transport)->createContext(rank, n);
        ctx->connect(*boot, deadline);
        body(rank, *ctx, *boot, deadline);
        ctx->quiesce();
        ctx.reset();
        boot->close();
      },
      opts);
  expectAllRanksPassed(results);
}

// Polls one event at a time (so none is dropped) until one of `kind`
// arrives; an event with peer -1 when the deadline passes first.
inline transport::Event waitForEvent(transport::Context& ctx, transport::Event::Kind kind,
                                     Deadline d) {
  transport::Event ev{};
  while (!d.expired()) {
    if (ctx.poll(&ev, 1) == 1 && ev.kind == kind) return ev;
  }
  transport::Event none{};
  none.peer = -1;
  return none;
}

}  // namespace shoal::test
