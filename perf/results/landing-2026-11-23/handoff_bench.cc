// How to hand N bytes to the next core, each followed by the receiver reading them:
// mode 0 copy into a shared buffer, 1 receiver copies out of the sender's, 2 one
// cross-memory-attach write into the receiver's own buffer, 3 copy into a shared
// slot and then out of it (the old staging path). Build: g++ -O2 -mavx2.
// Run: chrt -f 10 ./handoff_bench BYTES MODE
#include <immintrin.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
int main(int argc, char** argv) {
  size_t N = argc > 1 ? atol(argv[1]) : (2 << 20);
  int mode = argc > 2 ? atoi(argv[2]) : 0;  // 0 push, 1 pull
  int iters = 2000;
  size_t total = 4096 + 3 * N;
  char* base =
      (char*)mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  memset(base, 0, total);
  auto* flag = reinterpret_cast<std::atomic<long>*>(base);
  auto* ack = reinterpret_cast<std::atomic<long>*>(base + 128);
  char* bufA = base + 4096;
  char* slot = bufA + N;
  char* localB = slot + N;
  pid_t pid = fork();
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(pid == 0 ? 1 : 0, &s);
  sched_setaffinity(0, sizeof s, &s);
  if (pid == 0) {  // B
    float* own = (float*)malloc(N);
    memset(own, 1, N);
    float* out = (float*)malloc(N);
    char* priv = (char*)aligned_alloc(4096, N);
    memset(priv, 0, N);
    *reinterpret_cast<char**>(base + 256) = priv;
    reinterpret_cast<std::atomic<long>*>(base + 384)->store(1);
    for (int i = 1; i <= iters; ++i) {
      while (flag->load(std::memory_order_acquire) != i) _mm_pause();
      const float* in;
      if (mode == 1) {
        memcpy(localB, bufA, N);
        in = (float*)localB;
      } else if (mode == 2)
        in = (float*)priv;
      else if (mode == 3) {
        memcpy(localB, slot, N);
        in = (float*)localB;
      } else
        in = (float*)slot;
      for (size_t k = 0; k < N / 4; ++k) out[k] = own[k] + in[k];
      ack->store(i, std::memory_order_release);
    }
    _exit(0);
  }
  while (reinterpret_cast<std::atomic<long>*>(base + 384)->load() != 1) _mm_pause();
  char* remote = *reinterpret_cast<char**>(base + 256);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 1; i <= iters; ++i) {
    if (i == 100) t0 = std::chrono::steady_clock::now();
    memset(bufA, i, N);  // A produces its data
    if (mode == 0 || mode == 3) memcpy(slot, bufA, N);
    if (mode == 2) {
      for (size_t off = 0; off < N; off += 524288) {
        size_t l = N - off < 524288 ? N - off : 524288;
        iovec lo{bufA + off, l}, re{remote + off, l};
        if (process_vm_writev(pid, &lo, 1, &re, 1, 0) != (ssize_t)l) {
          perror("pvw");
          return 1;
        }
      }
    }
    flag->store(i, std::memory_order_release);
    while (ack->load(std::memory_order_acquire) != i) _mm_pause();
  }
  double us = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
              (iters - 99) * 1e6;
  wait(nullptr);
  printf("N=%zu %s: %.1f us/iter\n", N,
         mode == 3   ? "push+copy"
         : mode == 2 ? "cma"
         : mode      ? "pull"
                     : "push",
         us);
}
