// What the fault tests share (tests/faults, tests/ps_faults_test.cc): the
// options of a multi-rank fault case, timing the call that must fail, and
// checking how it failed (its code, what its message names, how long it
// took) and that only the victim died.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "util/multiprocess.h"

namespace shoal::test {

inline double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Options for a fault case's ranks: the transport ("" keeps the default),
// more environment, and the limit of the whole run (stragglers are killed).
inline MultiProcessOptions faultRun(const std::string& transport, double runLimitSeconds,
                                    const std::map<std::string, std::string>& env = {}) {
  MultiProcessOptions o;
  o.env = env;
  if (!transport.empty()) o.env["SHOAL_TRANSPORT"] = transport;
  o.timeoutSeconds = runLimitSeconds;
  return o;
}

// A call's result, the error message read right after it, and its duration.
struct CallOutcome {
  shoalResult_t code;
  std::string error;
  double seconds;
};

// call() returns a shoalResult_t; lastError() the message to go with it.
template <typename Call, typename LastError>
CallOutcome timedCall(Call&& call, LastError&& lastError) {
  auto t0 = std::chrono::steady_clock::now();
  shoalResult_t code = call();
  double seconds = secondsSince(t0);
  return {code, lastError(), seconds};
}

// EXPECTs that code, every one of texts in the message, and a duration in
// [minSeconds, maxSeconds).
inline void expectOutcome(const CallOutcome& o, shoalResult_t code,
                          std::initializer_list<const char*> texts, double maxSeconds,
                          double minSeconds = 0) {
  EXPECT_EQ(o.code, code) << o.error;
  for (const char* t : texts) {
    EXPECT_NE(o.error.find(t), std::string::npos) << "'" << t << "' missing from: " << o.error;
  }
  EXPECT_GE(o.seconds, minSeconds) << o.error;
  EXPECT_LT(o.seconds, maxSeconds) << o.error;
}

// EXPECTs that rank victim died of SIGKILL and every other rank exited 0.
inline void expectOnlyVictimKilled(const std::vector<RankResult>& results, int victim) {
  bool seen = false;
  for (const auto& r : results) {
    if (r.rank == victim) {
      seen = true;
      EXPECT_EQ(r.exitCode, -SIGKILL) << "victim rank " << r.rank << ": " << r.what;
    } else {
      EXPECT_EQ(r.exitCode, 0) << "rank " << r.rank << ": " << r.what;
    }
  }
  EXPECT_TRUE(seen) << "no result for victim rank " << victim;
}

// What a rank process holds that a communicator or PS instance must give back
// when it ends, even after an error: open descriptors (by what they point
// at), threads, and mappings of transport memory (shm segments, which are
// memfds named shoal-shm; RDMA device pages; POSIX shm). The library keeps no
// object counters, so registered buffers and contexts show up here as their
// mappings and device descriptors.
struct ProcessResources {
  std::map<std::string, int> fds;  // target (socket/pipe numbers dropped) -> count
  int threads = 0;
  std::map<std::string, int> maps;  // kind of transport mapping -> count
};

inline ProcessResources processResources() {
  ProcessResources r;
  if (DIR* d = opendir("/proc/self/fd")) {
    const int self = dirfd(d);
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.' || atoi(e->d_name) == self) continue;
      char target[512];
      ssize_t n =
          readlink((std::string("/proc/self/fd/") + e->d_name).c_str(), target, sizeof(target) - 1);
      if (n < 0) continue;  // closed by another thread meanwhile
      std::string t(target, static_cast<size_t>(n));
      // "socket:[123]" and "pipe:[456]" differ per object; their kind is what matters.
      if (t.rfind("socket:", 0) == 0 || t.rfind("pipe:", 0) == 0) t = t.substr(0, t.find(':'));
      r.fds[t]++;
    }
    closedir(d);
  }
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) r.threads += e->d_name[0] != '.';
    closedir(d);
  }
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    for (const char* kind : {"memfd:shoal", "/dev/infiniband/", "/dev/shm/"}) {
      if (line.find(kind) != std::string::npos) r.maps[kind]++;
    }
  }
  return r;
}

// What `after` holds beyond `before`, e.g. "fds +2 socket, +1 /dev/infiniband/uverbs0;
// threads +1"; empty when nothing.
inline std::string resourcesHeldSince(const ProcessResources& before,
                                      const ProcessResources& after) {
  auto grown = [](const std::map<std::string, int>& b, const std::map<std::string, int>& a) {
    std::string out;
    for (const auto& [what, n] : a) {
      auto it = b.find(what);
      int extra = n - (it == b.end() ? 0 : it->second);
      if (extra > 0) out += (out.empty() ? "+" : ", +") + std::to_string(extra) + " " + what;
    }
    return out;
  };
  std::string out;
  std::string fds = grown(before.fds, after.fds);
  if (!fds.empty()) out += "fds " + fds;
  if (after.threads > before.threads)
    out += (out.empty() ? "" : "; ") + std::string("threads +") +
           std::to_string(after.threads - before.threads);
  std::string maps = grown(before.maps, after.maps);
  if (!maps.empty()) out += (out.empty() ? "" : "; ") + std::string("mappings ") + maps;
  return out;
}

// resourcesHeldSince(before, now), waiting up to `graceSeconds` for it to
// empty: a thread the library joined may still be leaving the task list.
inline std::string leakedSince(const ProcessResources& before, double graceSeconds) {
  auto t0 = std::chrono::steady_clock::now();
  std::string held = resourcesHeldSince(before, processResources());
  while (!held.empty() && secondsSince(t0) < graceSeconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    held = resourcesHeldSince(before, processResources());
  }
  return held;
}

// Names in /dev/shm and SysV shared memory segments (by key and creator pid).
struct SharedMemoryObjects {
  std::set<std::string> files;
  std::map<std::string, int> sysvCreator;  // "key/shmid" -> creator pid
};

inline SharedMemoryObjects sharedMemoryObjects() {
  SharedMemoryObjects s;
  if (DIR* d = opendir("/dev/shm")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') s.files.insert(e->d_name);
    }
    closedir(d);
  }
  // "key shmid perms size cpid lpid ..." after a header line.
  std::ifstream in("/proc/sysvipc/shm");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    long long key = 0, id = 0, size = 0;
    int perms = 0, cpid = 0;
    if (f >> key >> id >> perms >> size >> cpid)
      s.sysvCreator[std::to_string(key) + "/" + std::to_string(id)] = cpid;
  }
  return s;
}

// Whether a live process has `path` open or mapped.
inline bool heldByAnyProcess(const std::string& path) {
  DIR* proc = opendir("/proc");
  if (!proc) return false;
  bool held = false;
  while (dirent* p = readdir(proc)) {
    if (held) break;
    if (!isdigit(static_cast<unsigned char>(p->d_name[0]))) continue;
    const std::string dir = std::string("/proc/") + p->d_name;
    if (DIR* fds = opendir((dir + "/fd").c_str())) {
      while (dirent* e = readdir(fds)) {
        char target[512];
        ssize_t n = readlink((dir + "/fd/" + e->d_name).c_str(), target, sizeof(target) - 1);
        if (n > 0 && std::string(target, static_cast<size_t>(n)) == path) {
          held = true;
          break;
        }
      }
      closedir(fds);
    }
    std::ifstream maps(dir + "/maps");
    std::string line;
    while (!held && std::getline(maps, line)) held = line.find(path) != std::string::npos;
  }
  closedir(proc);
  return held;
}

// Shared memory a job left behind, all its ranks (the killed ones too) having
// exited: SysV segments created by one of `pids` that still exist, and /dev/shm
// files that appeared since `before` and that no live process holds (a file
// another job on this machine is using meanwhile is held by that job).
inline std::string sharedMemoryLeftBy(const SharedMemoryObjects& before,
                                      const std::vector<int>& pids) {
  SharedMemoryObjects now = sharedMemoryObjects();
  std::string out;
  for (const auto& f : now.files) {
    const std::string path = "/dev/shm/" + f;
    if (before.files.count(f) || heldByAnyProcess(path)) continue;
    // Another job may be between closing the file and unlinking it: a leftover
    // is still there, held by nobody, a moment later.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (access(path.c_str(), F_OK) != 0 || heldByAnyProcess(path)) continue;
    out += (out.empty() ? "" : ", ") + path;
  }
  for (const auto& [seg, cpid] : now.sysvCreator) {
    for (int p : pids) {
      if (p > 0 && p == cpid) {
        out += (out.empty() ? "" : ", ") + std::string("SysV shm ") + seg + " of pid " +
               std::to_string(p);
      }
    }
  }
  return out;
}

}  // namespace shoal::test
