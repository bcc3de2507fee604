// Parameter-server throughput and latency beside allreduce of the same bytes,
// in an nccl-tests-like table. Starts its own processes (servers separate from
// workers): -w workers and -s servers form the parameter-server job, and the
// workers also form a communicator for the allreduce column.
//
//   ps_perf -w 2 -s 2 -b 4K -e 64M -f 4 -n 20 -t shm
//
// Per size, each worker times -n iterations (after -W warm-up ones) of
//   push       push + wait (sync mode: a round completes when every worker pushed)
//   pull       pull + wait
//   push_pull  push_pull + wait (one full round: gradients in, the sum back)
//   allreduce  shoalAllReduce among the workers
// and the slowest worker's mean time is reported. algbw = bytes / time; busbw
// for allreduce is algbw * 2(n-1)/n as in nccl-tests. A worker's push_pull
// moves its bytes once out and once in, whatever the number of workers.
//
// -g 1 puts each worker's gradient, pull and allreduce buffers in GPU memory
// (GPU = worker % visible GPUs, through the same DeviceMemory as
// all_reduce_perf): pushes read device memory, pulls land in it, the
// allreduce takes the worker's stream. Servers keep their partitions in host
// memory. Without a usable GPU, -g 1 is refused with one line and status 2.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/args.h"
#include "common/device_memory.h"
#include "common/runtime.h"
#include "shoal/ps.h"
#include "shoal/shoal.h"

namespace {

struct Args {
  int workers = 2;
  int servers = 2;
  size_t minBytes = 4096;
  size_t maxBytes = 64u << 20;
  double factor = 4;
  int iters = 20;
  int warmup = 3;
  std::string transport;
  int check = 1;
  double timeout = 600;
  int gpus = 0;  // -g: 0 host buffers, 1 GPU buffers
};

void usage() {
  fprintf(stderr,
          "usage: ps_perf [-w workers] [-s servers] [-b minbytes] [-e maxbytes] [-f factor]\n"
          "               [-n iters] [-W warmup] [-t shm|ucx|verbs] [-c 0|1] [-g 0|1]\n"
          "Consistency, update rule and partition size come from SHOAL_PS_MODE,\n"
          "SHOAL_PS_UPDATE and SHOAL_PS_PARTITION_BYTES (defaults: sync, sum, 4M).\n");
}

bool parse(int argc, char** argv, Args* a) {
  int c;
  while ((c = getopt(argc, argv, "w:s:b:e:f:n:W:t:c:g:h")) != -1) {
    switch (c) {
      case 'w':
        a->workers = atoi(optarg);
        break;
      case 's':
        a->servers = atoi(optarg);
        break;
      case 'b':
      case 'e':
        if (!perf::parseSize(optarg, c == 'b' ? &a->minBytes : &a->maxBytes)) {
          fprintf(stderr, "ps_perf: -%c wants a size such as 4096, 64K or 16M, not '%s'\n", c,
                  optarg);
          return false;
        }
        break;
      case 'f':
        a->factor = atof(optarg);
        break;
      case 'n':
        a->iters = atoi(optarg);
        break;
      case 'W':
        a->warmup = atoi(optarg);
        break;
      case 't':
        a->transport = optarg;
        break;
      case 'c':
        a->check = atoi(optarg);
        break;
      case 'g':
        a->gpus = atoi(optarg);
        break;
      default:
        usage();
        return false;
    }
  }
  if (a->workers < 1 || a->servers < 1 || a->minBytes < 4 || a->maxBytes < a->minBytes ||
      a->factor <= 1 || a->iters < 1 || a->warmup < 0 || a->gpus < 0 || a->gpus > 1) {
    usage();
    return false;
  }
  return true;
}

[[noreturn]] void die(const char* what, shoalResult_t r, const char* detail) {
  fprintf(stderr, "ps_perf: %s failed: %s: %s\n", what, shoalGetErrorString(r), detail);
  fflush(stderr);
  _exit(2);
}

#define PS_CHECK(call, ps)                                           \
  do {                                                               \
    shoalResult_t r_ = (call);                                       \
    if (r_ != shoalSuccess) die(#call, r_, shoalPsGetLastError(ps)); \
  } while (0)
#define COMM_CHECK(call, comm)                                       \
  do {                                                               \
    shoalResult_t r_ = (call);                                       \
    if (r_ != shoalSuccess) die(#call, r_, shoalGetLastError(comm)); \
  } while (0)

using Clock = std::chrono::steady_clock;

// Mean seconds per iteration of op on this worker, maximum over workers.
template <class Op>
double timeIt(const Args& a, shoalComm_t comm, Op op) {
  for (int i = 0; i < a.warmup; ++i) op();
  COMM_CHECK(shoalBarrier(comm, nullptr), comm);
  auto t0 = Clock::now();
  for (int i = 0; i < a.iters; ++i) op();
  double s = std::chrono::duration<double>(Clock::now() - t0).count() / a.iters;
  COMM_CHECK(shoalAllReduce(&s, &s, 1, shoalDouble, shoalMax, comm, nullptr), comm);
  return s;
}

void worker(const Args& a, int w, const shoalUniqueId& psId, const shoalUniqueId& commId) {
  std::unique_ptr<perf::DeviceMemory> mem;
  if (a.gpus) {
    setenv("SHOAL_LOCAL_RANK", std::to_string(w).c_str(), 1);  // GPU w % count
    try {
      mem = std::make_unique<perf::DeviceMemory>();
    } catch (const std::exception& e) {
      fprintf(stderr, "ps_perf: %s\n", e.what());
      _exit(2);
    }
  }
  shoalPs_t ps = nullptr;
  PS_CHECK(shoalPsInitRank(&ps, a.workers + a.servers, psId, w, shoalPsRoleWorker, nullptr),
           nullptr);
  shoalComm_t comm = nullptr;
  COMM_CHECK(shoalCommInitRank(&comm, a.workers, commId, w), nullptr);
  shoalPsOptions opts;
  PS_CHECK(shoalPsOptionsFromEnv(&opts), nullptr);
  const int n = a.workers;
  if (w == 0) {
    printf(
        "# ps_perf: %d workers, %d servers (separate processes), transport %s, mode %s, "
        "update %s, partition %zu bytes, %d iterations (+%d warm-up), buffers on %s\n",
        a.workers, a.servers, shoalCommTransportName(comm),
        opts.mode == shoalPsSync    ? "sync"
        : opts.mode == shoalPsAsync ? "async"
                                    : "ssp",
        opts.update == shoalPsUpdateSum   ? "sum"
        : opts.update == shoalPsUpdateSgd ? "sgd"
                                          : "momentum",
        opts.partitionBytes, a.iters, a.warmup, a.gpus ? "GPU" : "host");
    printf(
        "# time: mean per operation on the slowest worker; algbw = size / time; allreduce "
        "busbw = algbw * 2(n-1)/n\n#\n");
    printf("# %10s %10s %6s  %9s %7s  %9s %7s  %9s %7s  %9s %7s %7s  %5s\n", "", "", "", "push", "",
           "pull", "", "push_pull", "", "allreduce", "", "", "");
    printf("# %10s %10s %6s  %9s %7s  %9s %7s  %9s %7s  %9s %7s %7s  %5s\n", "size", "count",
           "type", "time(us)", "algbw", "time(us)", "algbw", "time(us)", "algbw", "time(us)",
           "algbw", "busbw", "check");
    printf("# %10s %10s %6s  %9s %7s  %9s %7s  %9s %7s  %9s %7s %7s  %5s\n", "(B)", "(elems)", "",
           "", "(GB/s)", "", "(GB/s)", "", "(GB/s)", "", "(GB/s)", "(GB/s)", "");
    fflush(stdout);
  }
  uint64_t key = 0;
  long errors = 0;
  for (double b = static_cast<double>(a.minBytes); b <= static_cast<double>(a.maxBytes) * 1.0001;
       b *= a.factor) {
    size_t count = static_cast<size_t>(b) / sizeof(float);
    size_t bytes = count * sizeof(float);
    ++key;
    std::vector<float> grad(count, static_cast<float>(w + 1)), out(count), red(count);
    float* gradBuf = grad.data();
    float* outBuf = out.data();
    float* redBuf = red.data();
    if (mem) {
      gradBuf = static_cast<float*>(mem->allocate(bytes));
      outBuf = static_cast<float*>(mem->allocate(bytes));
      redBuf = static_cast<float*>(mem->allocate(bytes));
      mem->upload(gradBuf, grad.data(), bytes);
    }
    PS_CHECK(shoalPsRegisterBuffer(ps, outBuf, bytes), ps);
    auto wait = [&](shoalPsHandle_t h) { PS_CHECK(shoalPsWait(ps, h, nullptr), ps); };
    double tPush = timeIt(a, comm, [&] {
      shoalPsHandle_t h;
      PS_CHECK(shoalPsPush(ps, key, gradBuf, count, shoalFloat32, &h), ps);
      wait(h);
    });
    double tPull = timeIt(a, comm, [&] {
      shoalPsHandle_t h;
      PS_CHECK(shoalPsPull(ps, key, outBuf, count, shoalFloat32, &h), ps);
      wait(h);
    });
    double tPushPull = timeIt(a, comm, [&] {
      shoalPsHandle_t h;
      PS_CHECK(shoalPsPushPull(ps, key, gradBuf, outBuf, count, shoalFloat32, &h), ps);
      wait(h);
    });
    double tAr = timeIt(a, comm, [&] {
      COMM_CHECK(shoalAllReduce(gradBuf, redBuf, count, shoalFloat32, shoalSum, comm,
                                mem ? mem->stream() : nullptr),
                 comm);
      if (mem) mem->synchronize();
    });
    if (mem) {
      mem->download(out.data(), outBuf, bytes);
      mem->download(red.data(), redBuf, bytes);
    }
    long bad = 0;
    if (a.check && opts.mode == shoalPsSync && opts.update == shoalPsUpdateSum) {
      // The last push_pull's round: every worker pushed w+1.
      const float want = static_cast<float>(n * (n + 1) / 2);
      for (size_t i = 0; i < count; ++i) bad += out[i] != want || red[i] != want;
      COMM_CHECK(shoalAllReduce(&bad, &bad, 1, shoalInt64, shoalSum, comm, nullptr), comm);
      errors += bad;
    }
    PS_CHECK(shoalPsDeregisterBuffer(ps, outBuf), ps);
    if (mem) {
      mem->release(gradBuf);
      mem->release(outBuf);
      mem->release(redBuf);
    }
    if (w == 0) {
      auto gbs = [&](double t) { return static_cast<double>(bytes) / t / 1e9; };
      double busbw = gbs(tAr) * (n > 1 ? 2.0 * (n - 1) / n : 1.0);
      printf("  %10zu %10zu %6s  %9.1f %7.2f  %9.1f %7.2f  %9.1f %7.2f  %9.1f %7.2f %7.2f  %5ld\n",
             bytes, count, "float", tPush * 1e6, gbs(tPush), tPull * 1e6, gbs(tPull),
             tPushPull * 1e6, gbs(tPushPull), tAr * 1e6, gbs(tAr), busbw, bad);
      fflush(stdout);
    }
  }
  if (w == 0) {
    printf("# Out of bounds values : %ld %s\n#\n", errors, errors ? "FAILED" : "OK");
    fflush(stdout);
  }
  COMM_CHECK(shoalCommDestroy(comm), nullptr);
  PS_CHECK(shoalPsFinalize(ps), nullptr);
  _exit(errors ? 1 : 0);
}

void server(const Args& a, int rank, const shoalUniqueId& psId) {
  shoalPs_t ps = nullptr;
  PS_CHECK(shoalPsInitRank(&ps, a.workers + a.servers, psId, rank, shoalPsRoleServer, nullptr),
           nullptr);
  PS_CHECK(shoalPsFinalize(ps), nullptr);
  _exit(0);
}

// Whether -g 1 can work, asked in a child: CUDA must not be initialised in
// this process before it forks the ranks. The child prints the reason.
bool gpuUsable() {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    try {
      perf::DeviceMemory probe;
    } catch (const std::exception& e) {
      fprintf(stderr, "ps_perf: %s\n", e.what());
      fflush(stderr);
      _exit(2);
    }
    _exit(0);
  }
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, &a)) return 2;
  if (!a.transport.empty()) setenv("SHOAL_TRANSPORT", a.transport.c_str(), 1);
  if (a.gpus && !gpuUsable()) return 2;
  shoalUniqueId psId, commId;
  if (shoalGetUniqueId(&psId) != shoalSuccess || shoalGetUniqueId(&commId) != shoalSuccess) {
    fprintf(stderr, "ps_perf: shoalGetUniqueId failed: %s\n", shoalGetLastError(nullptr));
    return 2;
  }
  fflush(stdout);
  fflush(stderr);
  const int total = a.workers + a.servers;
  std::vector<pid_t> pids;
  for (int r = 0; r < total; ++r) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("ps_perf: fork");
      for (pid_t p : pids) kill(p, SIGKILL);
      return 2;
    }
    if (pid == 0) {
      if (r < a.workers) worker(a, r, psId, commId);
      server(a, r, psId);
    }
    pids.push_back(pid);
  }
  int failed = 0;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(a.timeout));
  size_t left = pids.size();
  std::vector<bool> done(pids.size(), false);
  while (left > 0) {
    for (size_t i = 0; i < pids.size(); ++i) {
      int status = 0;
      if (done[i] || waitpid(pids[i], &status, WNOHANG) != pids[i]) continue;
      done[i] = true;
      --left;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "ps_perf: rank %zu (%s) %s %d\n", i,
                static_cast<int>(i) < a.workers ? "worker" : "server",
                WIFEXITED(status) ? "exited with" : "was killed by signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        failed = 1;
      }
    }
    if (left > 0 && Clock::now() > deadline) {
      fprintf(stderr, "ps_perf: ranks still running after %.0f s; killing them\n", a.timeout);
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) kill(pids[i], SIGKILL);
      }
      deadline = Clock::now() + std::chrono::hours(1);
      failed = 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return failed;
}
