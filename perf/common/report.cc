#include "common/report.h"

#include <unistd.h>

#include <climits>
#include <cstdio>

namespace perf {

namespace {

// Three significant digits in 7 columns, as nccl-tests prints times.
std::string formatTime(double us) {
  char buf[32];
  if (us >= 10000.0) {
    snprintf(buf, sizeof buf, "%7.0f", us);
  } else if (us >= 100.0) {
    snprintf(buf, sizeof buf, "%7.1f", us);
  } else {
    snprintf(buf, sizeof buf, "%7.2f", us);
  }
  return buf;
}

std::string formatResult(const Result& r) {
  char wrong[32];
  if (r.wrong < 0) {
    snprintf(wrong, sizeof wrong, "%5s", "N/A");
  } else {
    snprintf(wrong, sizeof wrong, "%5g", static_cast<double>(r.wrong));
  }
  char buf[128];
  snprintf(buf, sizeof buf, "  %7s  %6.2f  %6.2f  %5s", formatTime(r.seconds * 1e6).c_str(),
           r.algBw, r.busBw, wrong);
  return buf;
}

}  // namespace

void printComment(const std::string& text) {
  printf("# %s\n", text.c_str());
  fflush(stdout);
}

void printHeader(const Options& o) {
  char step[64];
  if (o.stepFactor > 1) {
    snprintf(step, sizeof step, "%g(factor)", o.stepFactor);
  } else {
    snprintf(step, sizeof step, "%zu(bytes)", o.stepBytes);
  }
  printf(
      "# nThread 1 nGpus 1 minBytes %zu maxBytes %zu step: %s warmup iters: %d iters: %d "
      "agg iters: %d validation: %d graph: 0\n#\n",
      o.minBytes, o.maxBytes, step, o.warmupIters, o.iters, o.aggIters, o.check ? 1 : 0);
  fflush(stdout);
}

std::string deviceLine(int rank, const std::string& transport) {
  char host[HOST_NAME_MAX + 1] = {};
  gethostname(host, sizeof host - 1);
  char buf[512];
  snprintf(buf, sizeof buf, "#  Rank %2d Group  0 Pid %6d on %10s transport %s", rank,
           static_cast<int>(getpid()), host, transport.c_str());
  return buf;
}

void printDevices(const std::vector<std::string>& rankLines) {
  printf("# Using devices\n");
  for (const std::string& l : rankLines) printf("%s\n", l.c_str());
  fflush(stdout);
}

void printColumnHeader() {
  printf(
      "#\n"
      "#                                                              out-of-place"
      "                       in-place\n"
      "#       size         count      type   redop    root     time   algbw   busbw #wrong"
      "     time   algbw   busbw #wrong\n"
      "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)"
      "            (us)  (GB/s)  (GB/s)\n");
  fflush(stdout);
}

void printResultLine(size_t bytes, size_t count, const char* type, const char* op, int root,
                     const Result& outOfPlace, const Result& inPlace) {
  printf("%12zu  %12zu  %8s  %6s  %6d%s%s\n", bytes, count, type, op, root,
         formatResult(outOfPlace).c_str(), formatResult(inPlace).c_str());
  fflush(stdout);
}

void printFooter(long long wrongTotal, double avgBusBw) {
  printf("# %-20s : %lld %s\n", "Out of bounds values", wrongTotal, wrongTotal ? "FAILED" : "OK");
  printf("# %-20s : %g\n#\n", "Avg bus bandwidth", avgBusBw);
  fflush(stdout);
}

}  // namespace perf
