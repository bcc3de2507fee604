// The values the parameter-server tests push: small integers, so float sums
// are exact whatever order the pushes arrive in.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal::test {

// What worker w pushes for key k in round r, element i.
inline float psGradient(int w, int r, uint64_t k, size_t i) {
  return static_cast<float>(
      static_cast<int>((i * 7 + k * 3 + static_cast<size_t>(w) * 13 + static_cast<size_t>(r) * 5) %
                       101) -
      50);
}

}  // namespace shoal::test
