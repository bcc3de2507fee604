// shoalrun: starts N ranks of a program on this machine with the SHOAL_*
// variables shoalCommInitFromEnv reads, prefixes their output with the rank,
// and stops the whole job as soon as one rank fails.
//
//   shoalrun -n N [-x VAR=VAL | -x VAR]... [--hosts H] [--timeout S] prog args...
//
// Deliberately independent of libshoal: a launcher must work even when the
// library it launches is broken.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kKillGraceSeconds = 3.0;

struct Options {
  int n = 0;
  int hosts = 0;
  double timeout = 0;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<char*> argv;
};

[[noreturn]] void usage(const char* why) {
  if (why) fprintf(stderr, "shoalrun: %s\n", why);
  fprintf(stderr,
          "usage: shoalrun -n N [-x VAR=VAL | -x VAR]... [--hosts H] [--timeout S] [--] prog "
          "[args...]\n"
          "       shoalrun --free-port\n"
          "  -n N          start N ranks on this machine\n"
          "  -x VAR=VAL    set VAR in every rank (-x VAR passes this shell's value on)\n"
          "  --hosts H     pretend the ranks run on H hosts (SHOAL_HOST_ID=node0.., in\n"
          "                contiguous blocks) to exercise multi-node code paths\n"
          "  --timeout S   stop the job and fail if it runs longer than S seconds\n"
          "  --free-port   print a free TCP port on 127.0.0.1 and exit\n");
  exit(2);
}

long parseNumber(const char* text, const char* what, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || !*text || *end || v < lo || v > hi) {
    fprintf(stderr, "shoalrun: %s must be a number from %ld to %ld, not '%s'\n", what, lo, hi,
            text);
    exit(2);
  }
  return v;
}

Options parseArgs(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) usage((std::string(name) + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--") {
      ++i;
      break;
    } else if (a == "-n" || a == "-np" || a == "--np") {
      o.n = static_cast<int>(parseNumber(value("-n"), "-n", 1, 4096));
    } else if (a == "-x") {
      std::string kv = value("-x");
      size_t eq = kv.find('=');
      if (eq == 0 || kv.empty()) usage("-x needs VAR=VAL or VAR");
      if (eq == std::string::npos) {
        const char* cur = getenv(kv.c_str());
        if (!cur) {
          fprintf(stderr, "shoalrun: -x %s: %s is not set in this environment\n", kv.c_str(),
                  kv.c_str());
          exit(2);
        }
        o.env.emplace_back(kv, cur);
      } else {
        o.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
      }
    } else if (a == "--hosts") {
      o.hosts = static_cast<int>(parseNumber(value("--hosts"), "--hosts", 1, 4096));
    } else if (a == "--timeout") {
      const char* t = value("--timeout");
      char* end = nullptr;
      o.timeout = strtod(t, &end);
      if (*end || o.timeout <= 0) usage("--timeout needs a positive number of seconds");
    } else if (a == "-h" || a == "--help") {
      usage(nullptr);
    } else if (!a.empty() && a[0] == '-') {
      usage(("unknown option " + a).c_str());
    } else {
      break;
    }
  }
  if (o.n == 0) usage("-n N is required");
  if (i >= argc) usage("no program given");
  if (o.hosts > o.n) usage("--hosts cannot exceed -n");
  for (; i < argc; ++i) o.argv.push_back(argv[i]);
  o.argv.push_back(nullptr);
  return o;
}

// A port nobody listens on right now. Rank 0 binds it moments later; the
// kernel hands out ephemeral ports in sequence, so a reuse in between is
// unlikely, and rank 0 then fails loudly rather than joining a wrong job.
int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("shoalrun: socket");
    exit(1);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    perror("shoalrun: cannot find a free port on 127.0.0.1");
    exit(1);
  }
  close(fd);
  return ntohs(a.sin_port);
}

std::string randomHex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(buf.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("shoalrun: getrandom");
      exit(1);
    }
    got += static_cast<size_t>(n);
  }
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (unsigned char b : buf) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

void writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // our own stdout is gone: nothing sensible left to do with the text
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// One output pipe of one rank, cut into lines that each get the rank prefix.
struct Stream {
  int fd = -1;
  int outFd = 1;
  std::string prefix;
  std::string partial;

  void emit(const char* p, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      partial += p[i];
      if (p[i] == '\n') {
        out += prefix;
        out += partial;
        partial.clear();
      }
    }
    if (!out.empty()) writeAll(outFd, out.data(), out.size());
  }
  // Reads what is there; returns false at end of stream.
  bool pump() {
    if (fd < 0) return false;
    char buf[65536];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n > 0) {
        emit(buf, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof(buf)) return true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      finish();
      return false;
    }
  }
  void finish() {
    if (!partial.empty()) {
      // A last line without its newline still gets the prefix, and a newline
      // so the next rank's line does not run into it.
      std::string out = prefix + partial + "\n";
      writeAll(outFd, out.data(), out.size());
      partial.clear();
    }
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

struct Rank {
  pid_t pid = -1;
  bool running = false;
  int status = 0;
  Stream out, err;
};

std::string describeStatus(int status) {
  char buf[128];
  if (WIFEXITED(status)) {
    snprintf(buf, sizeof(buf), "exited with status %d", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    snprintf(buf, sizeof(buf), "was killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  } else {
    snprintf(buf, sizeof(buf), "ended with wait status %d", status);
  }
  return buf;
}

int exitCodeFor(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "--free-port") == 0) {
    printf("%d\n", freePort());
    return 0;
  }
  Options opt = parseArgs(argc, argv);
  int port = freePort();
  std::string secret = randomHex(32);
  std::string root = "127.0.0.1:" + std::to_string(port);
  int hosts = opt.hosts > 0 ? opt.hosts : 1;

  // Signals arrive through a descriptor so the main loop handles them in
  // order with child exits and output, never inside a handler.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  // Under nohup SIGHUP stays ignored, for shoalrun and the ranks alike.
  struct sigaction hup {};
  sigaction(SIGHUP, nullptr, &hup);
  if (hup.sa_handler != SIG_IGN) sigaddset(&mask, SIGHUP);
  sigset_t oldMask;
  sigprocmask(SIG_BLOCK, &mask, &oldMask);
  int sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd < 0) {
    perror("shoalrun: signalfd");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  std::vector<Rank> ranks(opt.n);
  fflush(stdout);
  fflush(stderr);
  for (int r = 0; r < opt.n; ++r) {
    int outPipe[2], errPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0 || pipe2(errPipe, O_CLOEXEC) != 0) {
      perror("shoalrun: pipe");
      return 1;
    }
    int host = static_cast<int>(static_cast<long>(r) * hosts / opt.n);
    int firstOnHost = static_cast<int>((static_cast<long>(host) * opt.n + hosts - 1) / hosts);
    int endOfHost = static_cast<int>((static_cast<long>(host + 1) * opt.n + hosts - 1) / hosts);
    pid_t pid = fork();
    if (pid < 0) {
      perror("shoalrun: fork");
      for (int k = 0; k < r; ++k) kill(-ranks[k].pid, SIGKILL);
      return 1;
    }
    if (pid == 0) {
      // Own process group: the terminal's Ctrl-C reaches shoalrun only, which
      // forwards it once, and a rank's own children can be stopped with it.
      setpgid(0, 0);
      sigprocmask(SIG_SETMASK, &oldMask, nullptr);
      // A shell starts background jobs with SIGINT ignored; the ranks must
      // still stop when shoalrun passes a SIGINT or SIGTERM on.
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGPIPE, SIG_DFL);
      dup2(outPipe[1], 1);
      dup2(errPipe[1], 2);
      setenv("SHOAL_RANK", std::to_string(r).c_str(), 1);
      setenv("SHOAL_WORLD_SIZE", std::to_string(opt.n).c_str(), 1);
      setenv("SHOAL_LOCAL_RANK", std::to_string(r - firstOnHost).c_str(), 1);
      setenv("SHOAL_LOCAL_SIZE", std::to_string(endOfHost - firstOnHost).c_str(), 1);
      setenv("SHOAL_ROOT", root.c_str(), 1);
      setenv("SHOAL_SECRET", secret.c_str(), 1);
      if (opt.hosts > 0) setenv("SHOAL_HOST_ID", ("node" + std::to_string(host)).c_str(), 1);
      for (auto& [k, v] : opt.env) setenv(k.c_str(), v.c_str(), 1);
      execvp(opt.argv[0], opt.argv.data());
      fprintf(stderr, "shoalrun: cannot run %s: %s\n", opt.argv[0], strerror(errno));
      _exit(127);
    }
    setpgid(pid, pid);  // also here, so a kill right after fork reaches the group
    close(outPipe[1]);
    close(errPipe[1]);
    Rank& rk = ranks[r];
    rk.pid = pid;
    rk.running = true;
    std::string prefix = "[" + std::to_string(r) + "] ";
    rk.out = Stream{outPipe[0], 1, prefix, {}};
    rk.err = Stream{errPipe[0], 2, prefix, {}};
    fcntl(rk.out.fd, F_SETFL, O_NONBLOCK);
    fcntl(rk.err.fd, F_SETFL, O_NONBLOCK);
  }

  auto start = Clock::now();
  bool stopping = false;
  Clock::time_point stopAt;
  bool killed = false;
  bool allExited = false;
  Clock::time_point allExitedAt;
  int exitCode = 0;
  int running = opt.n;
  auto stopAll = [&](int sig) {
    for (auto& rk : ranks) {
      if (rk.running) kill(-rk.pid, sig);
    }
  };
  auto beginStop = [&](const std::string& why, int code) {
    if (stopping) return;
    stopping = true;
    stopAt = Clock::now();
    exitCode = code;
    std::string msg = "shoalrun: " + why + "\n";
    writeAll(2, msg.data(), msg.size());
    stopAll(SIGTERM);
  };

  for (;;) {
    bool pipesOpen = false;
    for (auto& rk : ranks) pipesOpen = pipesOpen || rk.out.fd >= 0 || rk.err.fd >= 0;
    if (running == 0 && !pipesOpen) break;

    std::vector<pollfd> pfds{{sigfd, POLLIN, 0}};
    std::vector<Stream*> streams;
    for (auto& rk : ranks) {
      for (Stream* s : {&rk.out, &rk.err}) {
        if (s->fd < 0) continue;
        pfds.push_back({s->fd, POLLIN, 0});
        streams.push_back(s);
      }
    }
    int waitMs = 1000;
    auto now = Clock::now();
    if (stopping && !killed) {
      double left = kKillGraceSeconds - std::chrono::duration<double>(now - stopAt).count();
      waitMs = std::max(0, static_cast<int>(left * 1000) + 1);
    }
    if (opt.timeout > 0 && !stopping) {
      double left = opt.timeout - std::chrono::duration<double>(now - start).count();
      waitMs = std::min(waitMs, std::max(0, static_cast<int>(left * 1000) + 1));
    }
    int rc = poll(pfds.data(), pfds.size(), waitMs);
    if (rc < 0 && errno != EINTR) {
      perror("shoalrun: poll");
      stopAll(SIGKILL);
      return 1;
    }
    for (size_t i = 1; i < pfds.size(); ++i) {
      if (pfds[i].revents) streams[i - 1]->pump();
    }
    if (pfds[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) continue;  // reaped below
        int sig = static_cast<int>(si.ssi_signo);
        if (!stopping) {
          std::string msg =
              std::string("shoalrun: got ") + strsignal(sig) + "; passing it on to the ranks\n";
          writeAll(2, msg.data(), msg.size());
          stopping = true;
          stopAt = Clock::now();
          exitCode = 128 + sig;
          stopAll(sig);
        } else {
          stopAll(SIGKILL);  // a second signal: stop now
          killed = true;
        }
      }
    }
    for (;;) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      for (int r = 0; r < opt.n; ++r) {
        Rank& rk = ranks[r];
        if (rk.pid != pid || !rk.running) continue;
        rk.running = false;
        rk.status = status;
        --running;
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && !stopping) {
          // Its last words come before the verdict.
          rk.out.pump();
          rk.err.pump();
          beginStop("rank " + std::to_string(r) + " " + describeStatus(status) +
                        "; stopped the other ranks",
                    exitCodeFor(status));
        }
      }
    }
    now = Clock::now();
    if (opt.timeout > 0 && !stopping &&
        std::chrono::duration<double>(now - start).count() >= opt.timeout) {
      beginStop("timed out after " + std::to_string(static_cast<int>(opt.timeout)) +
                    " s; stopped the ranks",
                124);
    }
    if (stopping && !killed &&
        std::chrono::duration<double>(now - stopAt).count() >= kKillGraceSeconds) {
      stopAll(SIGKILL);
      killed = true;
    }
    // A rank's grandchildren may keep its pipes open after every rank is
    // gone; do not wait on them for long.
    if (running == 0) {
      if (!allExited) {
        allExited = true;
        allExitedAt = now;
      } else if (std::chrono::duration<double>(now - allExitedAt).count() > kKillGraceSeconds) {
        for (auto& rk : ranks) {
          rk.out.pump();
          rk.err.pump();
          rk.out.finish();
          rk.err.finish();
        }
      }
    }
  }
  return exitCode;
}
