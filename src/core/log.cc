#include "core/log.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "core/config.h"

namespace shoal::log {

namespace {

struct State {
  Level level = kWarn;
  uint32_t mask = ALL;
  FILE* out = stderr;
  std::mutex mu;
};

std::atomic<int> gRank{-1};

uint32_t subsysBit(const std::string& name) {
  static const struct {
    const char* n;
    uint32_t b;
  } kNames[] = {{"INIT", INIT}, {"COLL", COLL},     {"BOOTSTRAP", BOOTSTRAP},
                {"NET", NET},   {"SHM", SHM},       {"UCX", UCX},
                {"IB", IB},     {"TUNING", TUNING}, {"TOPO", TOPO},
                {"PS", PS},     {"ENV", ENV},       {"ALL", ALL}};
  for (const auto& e : kNames) {
    if (strcasecmp(e.n, name.c_str()) == 0) return e.b;
  }
  return 0;
}

std::string expandPath(const std::string& pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      char c = pattern[++i];
      if (c == 'h') {
        char host[256] = {};
        gethostname(host, sizeof(host) - 1);
        out += host;
      } else if (c == 'p') {
        out += std::to_string(getpid());
      } else {
        out += c;
      }
    } else {
      out += pattern[i];
    }
  }
  return out;
}

State& state() {
  static State* s = [] {
    auto* st = new State();  // never destroyed: logging may run during exit
    std::string lvl = config::getString("SHOAL_DEBUG");
    if (strcasecmp(lvl.c_str(), "NONE") == 0)
      st->level = kNone;
    else if (strcasecmp(lvl.c_str(), "INFO") == 0)
      st->level = kInfo;
    else if (strcasecmp(lvl.c_str(), "TRACE") == 0)
      st->level = kTrace;
    else
      st->level = kWarn;
    std::string subs = config::getString("SHOAL_DEBUG_SUBSYS");
    if (!subs.empty()) {
      bool invert = subs[0] == '^';
      if (invert) subs.erase(0, 1);
      uint32_t mask = 0;
      size_t pos = 0;
      while (pos <= subs.size()) {
        size_t comma = subs.find(',', pos);
        if (comma == std::string::npos) comma = subs.size();
        mask |= subsysBit(subs.substr(pos, comma - pos));
        pos = comma + 1;
      }
      st->mask = invert ? ~mask : mask;
    }
    std::string file = config::getString("SHOAL_DEBUG_FILE");
    if (!file.empty()) {
      FILE* f = fopen(expandPath(file).c_str(), "a");
      if (f) {
        setvbuf(f, nullptr, _IOLBF, 0);
        st->out = f;
      } else {
        fprintf(stderr, "shoal: cannot open SHOAL_DEBUG_FILE %s: %s\n", file.c_str(),
                strerror(errno));
      }
    }
    return st;
  }();
  return *s;
}

// Built when the library loads, not on first use: a process that forks while
// another thread is inside a function-local static's initialisation would
// leave the child waiting on that guard forever. For the same reason the
// child gets a fresh mutex, in case a thread of the parent held it.
[[maybe_unused]] const bool kEagerInit = [] {
  state();
  pthread_atfork(nullptr, nullptr, [] { new (&state().mu) std::mutex(); });
  return true;
}();

}  // namespace

bool enabled(Level level, uint32_t subsys) {
  State& s = state();
  return level <= s.level && (s.mask & subsys) != 0;
}

void setRank(int rank) { gRank.store(rank); }

void write(Level level, uint32_t subsys, const char* file, int line, const char* fmt, ...) {
  State& s = state();
  static const char* kLevel[] = {"NONE", "WARN", "INFO", "TRACE"};
  char host[64] = {};
  gethostname(host, sizeof(host) - 1);
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  const char* base = strrchr(file, '/');
  std::lock_guard<std::mutex> lock(s.mu);
  int rank = gRank.load();
  if (level >= kTrace) {
    fprintf(s.out, "%s:%d:%d [%d] shoal %s %s:%d %s\n", host, getpid(), gettid(), rank,
            kLevel[level], base ? base + 1 : file, line, msg);
  } else {
    fprintf(s.out, "%s:%d [%d] shoal %s %s\n", host, getpid(), rank, kLevel[level], msg);
  }
}

}  // namespace shoal::log
