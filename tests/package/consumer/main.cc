// Uses the installed C++ header: it must compile on its own (C++20) and link
// with nothing but libshoal.
#include <cstdio>
#include <shoal/shoal.hpp>
#include <string>
#include <vector>

#ifndef SHOAL_EXPECTED_VERSION_CODE
#error "compile with -DSHOAL_EXPECTED_VERSION_CODE=<major*10000+minor*100+patch>"
#endif

static_assert(shoal::dataTypeOf<float> == shoalFloat32);
static_assert(shoal::dataTypeOf<shoal::bfloat16> == shoalBfloat16);

int main() {
  if (shoal::version() != SHOAL_EXPECTED_VERSION_CODE) {
    std::fprintf(stderr, "consumer_cxx: library version %d, expected %d\n", shoal::version(),
                 SHOAL_EXPECTED_VERSION_CODE);
    return 1;
  }
  shoal::Communicator comm;
  std::vector<float> a(3), b(2);
  try {
    comm.allReduce(a, b);
    std::fprintf(stderr, "consumer_cxx: a size mismatch did not throw\n");
    return 1;
  } catch (const shoal::Exception& e) {
    if (e.code() != shoalInvalidArgument) {
      std::fprintf(stderr, "consumer_cxx: wrong code %d: %s\n", static_cast<int>(e.code()),
                   e.what());
      return 1;
    }
  }
  std::printf("consumer_cxx: shoal %d, \"%s\"\n", shoal::version(),
              std::string(shoal::errorString(shoalInvalidUsage)).c_str());
  return 0;
}
