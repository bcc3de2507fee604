// SHOAL_TUNING_FILE's text (core/tuner.h parseTuningText) from arbitrary
// bytes. The file is local rather than from the network, but a typo in it
// must end in an error naming the file and line, never in a crash or in
// parameters the cost model cannot use: whatever the parser accepts has
// non-negative latencies and per-byte costs, positive scale factors and a
// NIC count of at least 0, none of them NaN.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "core/tuner.h"

using namespace shoal;

namespace {

bool usable(double v) { return !std::isnan(v) && v >= 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const char* transport : {"shm", "verbs"}) {
    TuningParams p = defaultTuning(transport);
    try {
      parseTuningText(text, transport, "fuzz.txt", &p);
    } catch (const Error& e) {
      if (e.code() != shoalInvalidArgument || std::string(e.what()).rfind("fuzz.txt:", 0) != 0)
        abort();
      continue;
    }
    if (!usable(p.intra.alpha) || !usable(p.intra.beta) || !usable(p.inter.alpha) ||
        !usable(p.inter.beta) || !usable(p.gamma) || p.nicsPerNode < 0) {
      abort();
    }
    for (const auto& [name, factor] : p.scale) {
      if (std::isnan(factor) || factor <= 0) abort();
    }
  }
  return 0;
}
