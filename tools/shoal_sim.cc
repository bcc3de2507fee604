// shoal-sim: predicts collective times on a modelled cluster by running the
// schedules shoal's own algorithms generate in virtual time (src/sim).
// Output is nccl-tests' format, one block per node count and algorithm, then
// a table of the fastest algorithm against the tuner's choice.
#include <getopt.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/reduce.h"
#include "sim/predict.h"

using namespace shoal;
using namespace shoal::sim;

namespace {

void usage() {
  fprintf(stderr,
          "usage: shoal-sim [options]\n"
          "  -p PROFILE   cluster profile: ndr400 (default), this-machine-shm\n"
          "  -s KEY=VAL   override a profile field (repeatable), e.g. -s nicsPerNode=1\n"
          "  -N LIST      node counts: 2,4,16 or 2:2048 (doubling) (default 2)\n"
          "  -g N         ranks per node (default 8)\n"
          "  -b SIZE      smallest size in bytes (default 8)\n"
          "  -e SIZE      largest size (default 4G)\n"
          "  -f FACTOR    size step factor (default 2)\n"
          "  -A LIST      algorithms (default ring,tree,hier; ones that do not apply are skipped)\n"
          "  -i 0|1       simulate the in-place call too (default 0: in-place columns repeat)\n"
          "  -S 0|1|2     0: generate every rank's schedule; 1: use node-translation\n"
          "               symmetry where it holds exactly (default); 2: also where only\n"
          "               dependencies differ (approximate, named in the output)\n"
          "  -E STEPS     when no symmetry holds and simulating every rank would take more\n"
          "               than STEPS steps, approximate (node 0's schedules where only\n"
          "               dependencies differ, else extrapolate linearly from two smaller\n"
          "               counts; named in the output); 0: always exact (default 12M)\n"
          "  -o DIR       also write <algo>_n<ranks>.txt and picks_n<ranks>.txt into DIR\n"
          "  -j N         threads generating schedules when every rank is needed (default: cores)\n"
          "  -L SECONDS   stop an algorithm's sweep once one size took longer (default: no limit)\n"
          "  -v           timing of each prediction on stderr\n"
          "Chunk and slots come from SHOAL_CHUNK_SIZE and SHOAL_SLOTS, as in a communicator.\n");
}

size_t parseSize(const char* s) {
  char* end = nullptr;
  double v = strtod(s, &end);
  switch (*end) {
    case 'K':
    case 'k':
      v *= 1024;
      break;
    case 'M':
    case 'm':
      v *= 1024 * 1024;
      break;
    case 'G':
    case 'g':
      v *= 1024.0 * 1024 * 1024;
      break;
    case '\0':
      break;
    default:
      fprintf(stderr, "shoal-sim: bad size '%s'\n", s);
      exit(2);
  }
  return static_cast<size_t>(v);
}

std::vector<int> parseNodes(const std::string& s) {
  std::vector<int> out;
  size_t colon = s.find(':');
  if (colon != std::string::npos) {
    int lo = atoi(s.substr(0, colon).c_str()), hi = atoi(s.substr(colon + 1).c_str());
    for (int x = lo; x >= 1 && x <= hi; x *= 2) out.push_back(x);
  } else {
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(atoi(item.c_str()));
  }
  for (int x : out) {
    if (x < 1) {
      fprintf(stderr, "shoal-sim: bad node list '%s'\n", s.c_str());
      exit(2);
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Three significant digits in 7 columns, as nccl-tests prints times.
std::string fmtTime(double us) {
  char buf[32];
  snprintf(buf, sizeof buf, us >= 10000.0 ? "%7.0f" : us >= 100.0 ? "%7.1f" : "%7.2f", us);
  return buf;
}

std::string resultCols(const Prediction& r) {
  char buf[128];
  snprintf(buf, sizeof buf, "  %7s  %6.2f  %6.2f  %5s", fmtTime(r.seconds * 1e6).c_str(), r.algBw,
           r.busBw, "N/A");
  return buf;
}

struct Out {
  FILE* file = nullptr;
  void line(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    va_list ap;
    va_start(ap, fmt);
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs(buf, stdout);
    if (file) fputs(buf, file);
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string profileName = "ndr400", nodesArg = "2", algosArg = "ring,tree,hier", outDir;
  std::vector<std::string> sets;
  int ppn = 8;
  size_t minB = 8, maxB = size_t{4} << 30;
  double factor = 2, limit = 0;
  bool inPlace = false, verbose = false;
  int symmetry = 1, threads = 0;
  // Simulating every rank costs about 1 us of wall time per step on the
  // project VM: 12 M steps keep one prediction of any size at 2048 x 8
  // within a minute, and 2-64 nodes x 8 exact (perf/SCALE.md).
  uint64_t maxSteps = uint64_t{12} << 20;
  int opt;
  while ((opt = getopt(argc, argv, "p:s:N:g:b:e:f:A:i:S:E:o:L:j:vh")) != -1) {
    switch (opt) {
      case 'p':
        profileName = optarg;
        break;
      case 's':
        sets.push_back(optarg);
        break;
      case 'N':
        nodesArg = optarg;
        break;
      case 'g':
        ppn = atoi(optarg);
        break;
      case 'b':
        minB = parseSize(optarg);
        break;
      case 'e':
        maxB = parseSize(optarg);
        break;
      case 'f':
        factor = atof(optarg);
        break;
      case 'A':
        algosArg = optarg;
        break;
      case 'i':
        inPlace = atoi(optarg) != 0;
        break;
      case 'S':
        symmetry = atoi(optarg);
        break;
      case 'E':
        maxSteps = parseSize(optarg);
        break;
      case 'o':
        outDir = optarg;
        break;
      case 'j':
        threads = atoi(optarg);
        break;
      case 'L':
        limit = atof(optarg);
        break;
      case 'v':
        verbose = true;
        break;
      default:
        usage();
        return opt == 'h' ? 0 : 2;
    }
  }
  if (ppn < 1 || factor <= 1 || minB < 4 || maxB < minB) {
    usage();
    return 2;
  }
  try {
    Profile prof = namedProfile(profileName);
    for (const auto& s : sets) setProfileField(&prof, s);
    const TuningParams defaults = defaultTuning(prof.transport);
    const TuningParams fromProfile = tuningFromProfile(prof);
    EngineOptions eo;
    eo.slots = slotsFromConfig();
    const auto algos = split(algosArg);
    if (!outDir.empty()) mkdir(outDir.c_str(), 0755);
    const shoalDataType_t dtype = shoalFloat32;
    const size_t es = dtypeSize(dtype);
    std::vector<size_t> sizes;
    for (double b = static_cast<double>(minB); b <= static_cast<double>(maxB) * 1.0000001;
         b *= factor) {
      sizes.push_back(static_cast<size_t>(b) / es * es);
    }
    for (int nodes : parseNodes(nodesArg)) {
      Cluster c{nodes, ppn};
      const int n = c.ranks();
      // size -> algorithm -> prediction
      std::map<size_t, std::map<std::string, Prediction>> all;
      for (const auto& algo : algos) {
        WorkloadSpec probe;
        probe.algorithm = algo;
        probe.count = 1;
        const auto* info = algorithms::findAlgorithm(probe.kind, algo);
        if (!info)
          fail(shoalInvalidArgument, "shoal-sim: unknown allreduce algorithm '%s'", algo.c_str());
        const auto hosts = hostIds(c);
        if (info->applies && !info->applies(collArgsFor(probe, 0, n, hosts))) {
          printf("# %s does not apply to %d nodes x %d ranks; skipped\n", algo.c_str(), nodes, ppn);
          continue;
        }
        Out out;
        if (!outDir.empty()) {
          std::string path = outDir + "/" + algo + "_n" + std::to_string(n) + ".txt";
          out.file = fopen(path.c_str(), "w");
          if (!out.file) failErrno("shoal-sim: cannot write %s", path.c_str());
        }
        out.line(
            "# shoal-sim allreduce %s: %d nodes x %d ranks = %d ranks, chunk %zu B, %d slots\n",
            algo.c_str(), nodes, ppn, n, chunkBytesFromConfig(), eo.slots);
        out.line("# %s\n", describeProfile(prof).c_str());
        if (!inPlace) out.line("# in-place columns repeat out-of-place (-i 1 simulates them)\n");
        out.line(
            "#\n#                                                              out-of-place"
            "                       in-place\n"
            "#       size         count      type   redop    root     time   algbw   busbw "
            "#wrong     time   algbw   busbw #wrong\n"
            "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)"
            "            (us)  (GB/s)  (GB/s)\n");
        double busSum = 0, wallTotal = 0;
        size_t done = 0;
        for (size_t bytes : sizes) {
          WorkloadSpec spec;
          spec.algorithm = algo;
          spec.count = bytes / es;
          spec.symmetry = symmetry;
          spec.threads = threads;
          spec.maxSteps = maxSteps;
          const auto t0 = std::chrono::steady_clock::now();
          Prediction pr = predict(c, spec, prof, eo);
          Prediction ip = pr;
          if (inPlace) {
            spec.inPlace = true;
            ip = predict(c, spec, prof, eo);
          }
          const double wall =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          wallTotal += wall;
          if (verbose) {
            fprintf(stderr,
                    "shoal-sim: %s %dx%d %zu B: %.3f s wall (generate %.3f s, %d schedules: %s; "
                    "simulate %.3f s, %d ranks simulated, %llu events)\n",
                    algo.c_str(), nodes, ppn, bytes, wall, pr.genSeconds, pr.generated,
                    pr.how.c_str(), pr.run.wallSeconds, pr.run.simulatedRanks,
                    static_cast<unsigned long long>(pr.run.events));
          }
          out.line("%12zu  %12zu  %8s  %6s  %6d%s%s\n", bytes, spec.count, "float", "sum", -1,
                   resultCols(pr).c_str(), resultCols(ip).c_str());
          if (!pr.exact) out.line("#   ^ %s\n", pr.how.c_str());
          busSum += pr.busBw;
          ++done;
          all[bytes][algo] = pr;
          if (limit > 0 && wall > limit && bytes != sizes.back()) {
            out.line("# larger sizes skipped: this one took %.1f s to simulate (-L %g)\n", wall,
                     limit);
            break;
          }
        }
        out.line("# Out of bounds values : 0 OK\n");
        out.line("# Avg bus bandwidth    : %g\n", done ? busSum / static_cast<double>(done) : 0.0);
        out.line("# simulation wall time : %.2f s\n#\n", wallTotal);
        if (out.file) fclose(out.file);
      }
      // Which algorithm is fastest, and what the tuner would choose.
      Out out;
      if (!outDir.empty()) {
        std::string path = outDir + "/picks_n" + std::to_string(n) + ".txt";
        out.file = fopen(path.c_str(), "w");
        if (!out.file) failErrno("shoal-sim: cannot write %s", path.c_str());
      }
      out.line(
          "# picks: %d nodes x %d ranks; tuner-default = pickByModel with defaultTuning(\"%s\"), "
          "tuner-profile = with tuningFromProfile(%s)\n",
          nodes, ppn, prof.transport.c_str(), prof.name.c_str());
      std::string head = "#       size";
      for (const auto& a : algos)
        head += "  " + std::string(9 - std::min<size_t>(9, a.size() + 3), ' ') + a + "_us";
      out.line("%s  sim-best  tuner-default  tuner-profile\n", head.c_str());
      for (size_t bytes : sizes) {
        std::string line;
        char buf[64];
        snprintf(buf, sizeof buf, "%12zu", bytes);
        line = buf;
        std::string best;
        double bestT = 0;
        for (const auto& a : algos) {
          auto it = all[bytes].find(a);
          if (it == all[bytes].end()) {
            snprintf(buf, sizeof buf, "  %9s", "n/a");
          } else {
            snprintf(buf, sizeof buf, "  %9s", fmtTime(it->second.seconds * 1e6).c_str());
            if (best.empty() || it->second.seconds < bestT) {
              best = a;
              bestT = it->second.seconds;
            }
          }
          line += buf;
        }
        WorkloadSpec spec;
        spec.count = bytes / es;
        snprintf(buf, sizeof buf, "  %8s  %13s  %13s", best.c_str(),
                 tunerPick(c, spec, defaults).c_str(), tunerPick(c, spec, fromProfile).c_str());
        out.line("%s%s\n", line.c_str(), buf);
      }
      out.line("#\n");
      if (out.file) fclose(out.file);
    }
  } catch (const Error& e) {
    fprintf(stderr, "shoal-sim: %s\n", e.what());
    return 1;
  }
  return 0;
}
