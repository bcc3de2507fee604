#include "util/multiprocess.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "cuda/cuda_api.h"
#include "transports/device.h"

namespace shoal::test {

std::vector<RankResult> runRanks(int n,
                                 const std::function<void(int, int, const shoalUniqueId&)>& body,
                                 const MultiProcessOptions& opts) {
  shoalUniqueId id;
  if (shoalGetUniqueId(&id) != shoalSuccess) {
    ADD_FAILURE() << "shoalGetUniqueId failed: " << shoalGetLastError(nullptr);
    return {};
  }
  fflush(stdout);
  fflush(stderr);
  std::vector<pid_t> pids(n, -1);
  for (int r = 0; r < n; ++r) {
    pid_t pid = fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork failed for rank " << r;
      break;
    }
    if (pid == 0) {
      // Ranks are forked from a test process that may have run UCX before
      // (an earlier test in the same binary); UCX's memory-event hooks do not
      // survive fork reliably, so the ranks run without them (follow-up in
      // the UCX transport: make init fork-safe on its own).
      setenv("UCX_MEM_EVENTS", "no", 0);
      for (auto& [k, v] : opts.env) setenv(k.c_str(), v.c_str(), 1);
      int code = 0;
      try {
        body(r, n, id);
        if (::testing::Test::HasFailure()) code = 1;
      } catch (const std::exception& e) {
        fprintf(stderr, "[rank %d] exception: %s\n", r, e.what());
        code = 2;
      }
      fflush(stdout);
      fflush(stderr);
      _exit(code);
    }
    pids[r] = pid;
  }
  std::vector<RankResult> results(n);
  for (int r = 0; r < n; ++r) results[r] = {r, -1000, "not started"};
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(opts.timeoutSeconds));
  int left = 0;
  for (pid_t p : pids) left += p > 0;
  while (left > 0) {
    int status = 0;
    pid_t done = waitpid(-1, &status, WNOHANG);
    if (done > 0) {
      for (int r = 0; r < n; ++r) {
        if (pids[r] != done) continue;
        if (WIFEXITED(status)) {
          results[r] = {r, WEXITSTATUS(status), WEXITSTATUS(status) ? "exited non-zero" : "ok"};
        } else {
          results[r] = {r, -WTERMSIG(status),
                        std::string("killed by ") + strsignal(WTERMSIG(status))};
        }
        pids[r] = -1;
        --left;
      }
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      for (int r = 0; r < n; ++r) {
        if (pids[r] <= 0) continue;
        kill(pids[r], SIGKILL);
        waitpid(pids[r], nullptr, 0);
        results[r] = {r, -SIGKILL, "timed out (killed by the test harness)"};
        pids[r] = -1;
        --left;
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return results;
}

void expectAllRanksPassed(const std::vector<RankResult>& results) {
  for (const auto& r : results) {
    EXPECT_EQ(r.exitCode, 0) << "rank " << r.rank << ": " << r.what;
  }
}

bool probeInChild(const std::function<bool(std::string*)>& probe, std::string* why) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string reason;
    bool ok = probe(&reason);
    ssize_t ignored = write(fds[1], reason.data(), reason.size());
    (void)ignored;
    _exit(ok ? 0 : 1);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return false;
  }
  // Bounded like every other wait: a probe stuck in a library's init must
  // not hang the test; it is killed and reported as unusable.
  constexpr int kProbeSeconds = 60;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(kProbeSeconds);
  std::string reason;
  char buf[512];
  bool timedOut = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    until - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    struct pollfd pfd = {fds[0], POLLIN, 0};
    int r = poll(&pfd, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      timedOut = r == 0;
      break;
    }
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    reason.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timedOut) kill(pid, SIGKILL);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  if (timedOut) {
    if (why) *why = "the probe did not answer within " + std::to_string(kProbeSeconds) + " s";
    return false;
  }
  if (why) *why = reason;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool transportUsable(const std::string& name, std::string* why) {
  transport::Device* dev = transport::findDevice(name);
  if (!dev) {
    if (why) *why = "not built into this shoal";
    return false;
  }
  // Probed in a child: a transport library initialised in the test process
  // (UCX installs memory hooks and threads) can leave locks held across the
  // fork of the rank processes, which then hang in their own init.
  return probeInChild([dev](std::string* reason) { return dev->usable(reason); }, why);
}

bool cudaUsable(std::string* why) {
  // In a child: CUDA initialised before a fork is unusable in the children.
  return probeInChild([](std::string* reason) { return cuda::available(reason); }, why);
}

std::vector<std::string> usableTransports() {
  std::vector<std::string> names;
  for (auto* dev : transport::devices()) {
    if (transportUsable(dev->name(), nullptr)) names.push_back(dev->name());
  }
  return names;
}

}  // namespace shoal::test
