// TSC marks per call for the round-6 small-call breakdown (../README.md).
// Not part of the library: apply.py copies it into src/core for a stamped build.
#pragma once
#include <x86intrin.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <cstring>
namespace shoal::trace {
constexpr int kMarks = 10;
struct Buf {
  static constexpr int kN = 1 << 17;
  uint64_t t[kMarks][kN];
  int call = -1;
};
inline Buf& buf() { static Buf* b = [] { Buf* x = new Buf(); memset(x, 0, sizeof(Buf)); x->call = -1; return x; }(); return *b; }
inline void dump() {
  Buf& b = buf();
  char name[64];
  snprintf(name, sizeof name, "/tmp/trace/t.%d", getpid());
  FILE* f = fopen(name, "w");
  for (int i = 0; i <= b.call && i < Buf::kN; ++i) {
    for (int k = 0; k < kMarks; ++k) fprintf(f, "%lu ", b.t[k][i]);
    fprintf(f, "\n");
  }
  fclose(f);
}
struct AtExit { ~AtExit() { dump(); } };
inline void mark(int k) {
  Buf& b = buf();
  if (k == 0) ++b.call;
  if (b.call >= 0 && b.call < Buf::kN && (k == 0 || b.t[k][b.call] == 0)) b.t[k][b.call] = __rdtsc();
}
}
