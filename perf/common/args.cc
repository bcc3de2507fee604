#include "common/args.h"

#include <getopt.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/datatypes.h"

namespace perf {

namespace {

void usage(const ParseSpec& spec, FILE* f) {
  fprintf(f,
          "usage: %s [options]\n"
          "  -b, --minbytes <size>     smallest size (default 32M; K/M/G suffixes)\n"
          "  -e, --maxbytes <size>     largest size (default 32M)\n"
          "  -i, --stepbytes <size>    size increment when -f is 1 (default 1M)\n"
          "  -f, --stepfactor <n>      size multiplier (default 1: use -i)\n"
          "  -n, --iters <n>           timed iterations per size (default 20)\n"
          "  -w, --warmup_iters <n>    warm-up iterations (default 5)\n"
          "  -m, --agg_iters <n>       operations per timed iteration (default 1)\n"
          "  -c, --check <0/1>         verify every element on every rank (default 1)\n"
          "  -o, --op <sum|prod|min|max|avg|all>          (default sum)\n"
          "  -d, --datatype <int8|uint8|int32|uint32|int64|uint64|half|float|double|"
          "bfloat16|all> (default float)\n"
          "  -r, --root <rank>         root of rooted collectives (default 0)\n"
          "  -z, --blocking <0/1>      accepted; host collectives always block\n"
          "  -a, --average <0..3>      time over ranks: 0 rank 0, 1 mean, 2 min, 3 max "
          "(default 3)\n",
          spec.program);
  if (spec.acceptsAlgorithm) {
    fprintf(f,
            "  -A, --algorithm <name>    sets SHOAL_ALGO before init: ring, tree, rhd, hier, "
            "...; auto unsets it\n");
  }
  if (spec.acceptsDevices) {
    fprintf(
        f,
        "  -g, --ngpus <0/1>         GPUs per rank: 0 buffers in host memory (default), 1\n"
        "                            cudaMalloc'd buffers on GPU (local rank %% GPU count) and a\n"
        "                            CUDA stream per rank; time = enqueue the iterations, then\n"
        "                            synchronize the stream\n"
        "      --backend <shoal|nccl> library to measure (default shoal). nccl loads\n"
        "                            libnccl.so.2 at run time, implies -g 1 and needs one GPU\n"
        "                            per rank: NCCL refuses several ranks on one GPU\n"
        "                            (\"Duplicate GPU detected\")\n");
  }
  fprintf(f, "  -h, --help\n");
}

bool parseInt(const char* s, long lo, long hi, long* out) {
  errno = 0;
  char* end = nullptr;
  const long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// --backend has no short form; getopt_long returns this for it.
constexpr int kBackendOption = 0x100;

}  // namespace

bool parseSize(const char* s, size_t* out) {
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || s[0] == '-') return false;
  unsigned long long mult = 1;
  switch (*end) {
    case '\0':
      break;
    case 'k':
    case 'K':
      mult = 1ull << 10;
      break;
    case 'm':
    case 'M':
      mult = 1ull << 20;
      break;
    case 'g':
    case 'G':
      mult = 1ull << 30;
      break;
    default:
      return false;
  }
  if (*end != '\0' && end[1] != '\0' && !(end[1] == 'B' && end[2] == '\0')) return false;
  *out = static_cast<size_t>(v * mult);
  return true;
}

std::vector<size_t> sweepSizes(const Options& o) {
  std::vector<size_t> sizes;
  for (size_t size = o.minBytes; size <= o.maxBytes;) {
    sizes.push_back(size);
    size_t next = o.stepFactor > 1 ? static_cast<size_t>(static_cast<double>(size) * o.stepFactor)
                                   : size + o.stepBytes;
    if (next <= size) break;  // -b 0 with a factor, or -i 0: one size only
    size = next;
  }
  return sizes;
}

int parseArgs(int argc, char** argv, const ParseSpec& spec, Options* out) {
  static const struct option kLong[] = {{"minbytes", required_argument, nullptr, 'b'},
                                        {"maxbytes", required_argument, nullptr, 'e'},
                                        {"stepbytes", required_argument, nullptr, 'i'},
                                        {"stepfactor", required_argument, nullptr, 'f'},
                                        {"iters", required_argument, nullptr, 'n'},
                                        {"warmup_iters", required_argument, nullptr, 'w'},
                                        {"agg_iters", required_argument, nullptr, 'm'},
                                        {"check", required_argument, nullptr, 'c'},
                                        {"op", required_argument, nullptr, 'o'},
                                        {"datatype", required_argument, nullptr, 'd'},
                                        {"root", required_argument, nullptr, 'r'},
                                        {"blocking", required_argument, nullptr, 'z'},
                                        {"average", required_argument, nullptr, 'a'},
                                        {"algorithm", required_argument, nullptr, 'A'},
                                        {"ngpus", required_argument, nullptr, 'g'},
                                        {"backend", required_argument, nullptr, kBackendOption},
                                        {"help", no_argument, nullptr, 'h'},
                                        {nullptr, 0, nullptr, 0}};
  Options o;
  long v = 0;
  int c;
  bool gpusGiven = false;
  optind = 1;
  while ((c = getopt_long(argc, argv, "b:e:i:f:n:w:m:c:o:d:r:z:a:A:g:h", kLong, nullptr)) != -1) {
    bool ok = true;
    switch (c) {
      case 'b':
        ok = parseSize(optarg, &o.minBytes);
        break;
      case 'e':
        ok = parseSize(optarg, &o.maxBytes);
        break;
      case 'i':
        ok = parseSize(optarg, &o.stepBytes);
        break;
      case 'f': {
        char* end = nullptr;
        o.stepFactor = strtod(optarg, &end);
        ok = end != optarg && *end == '\0' && o.stepFactor >= 1;
        break;
      }
      case 'n':
        ok = parseInt(optarg, 1, 1 << 30, &v);
        o.iters = static_cast<int>(v);
        break;
      case 'w':
        ok = parseInt(optarg, 0, 1 << 30, &v);
        o.warmupIters = static_cast<int>(v);
        break;
      case 'm':
        ok = parseInt(optarg, 1, 1 << 20, &v);
        o.aggIters = static_cast<int>(v);
        break;
      case 'c':
        ok = parseInt(optarg, 0, 1, &v);
        o.check = v != 0;
        break;
      case 'o':
        ok = parseOps(optarg, &o.ops);
        break;
      case 'd':
        ok = parseTypes(optarg, &o.types);
        break;
      case 'r':
        ok = parseInt(optarg, 0, 1 << 30, &v);
        o.root = static_cast<int>(v);
        break;
      case 'z':
        ok = parseInt(optarg, 0, 1, &v);
        o.blocking = v != 0;
        break;
      case 'a':
        ok = parseInt(optarg, 0, 3, &v);
        o.timeReduction = static_cast<TimeReduction>(v);
        break;
      case 'A':
        // Any name: shoal validates SHOAL_ALGO itself and lists what it knows.
        ok = spec.acceptsAlgorithm && optarg[0] != '\0';
        o.algorithm = optarg;
        break;
      case 'g':
        ok = spec.acceptsDevices && parseInt(optarg, 0, 1, &v);
        o.gpus = static_cast<int>(v);
        gpusGiven = true;
        break;
      case kBackendOption:
        ok = spec.acceptsDevices;
        if (strcmp(optarg, "shoal") == 0) {
          o.backend = Library::kShoal;
        } else if (strcmp(optarg, "nccl") == 0) {
          o.backend = Library::kNccl;
        } else {
          ok = false;
        }
        break;
      case 'h':
        usage(spec, stdout);
        return 0;
      default:
        usage(spec, stderr);
        return 1;
    }
    if ((c == 'g' || c == kBackendOption) && !spec.acceptsDevices) {
      fprintf(stderr,
              "%s: -g and --backend are for the shoal benchmarks; this one uses host memory\n",
              spec.program);
      return 1;
    }
    if (!ok && c == kBackendOption) {
      fprintf(stderr, "%s: invalid value '%s' for --backend\n", spec.program, optarg);
      usage(spec, stderr);
      return 1;
    }
    if (!ok) {
      fprintf(stderr, "%s: invalid value '%s' for -%c\n", spec.program, optarg,
              static_cast<char>(c));
      usage(spec, stderr);
      return 1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected argument '%s'\n", spec.program, argv[optind]);
    usage(spec, stderr);
    return 1;
  }
  if (o.minBytes > o.maxBytes) {
    fprintf(stderr, "%s: -b %zu is larger than -e %zu\n", spec.program, o.minBytes, o.maxBytes);
    return 1;
  }
  if (o.backend == Library::kNccl) {
    // NCCL works on device memory only.
    if (gpusGiven && o.gpus == 0) {
      fprintf(stderr, "%s: --backend nccl needs device buffers (-g 1), not -g 0\n", spec.program);
      return 1;
    }
    o.gpus = 1;
    if (!o.algorithm.empty()) {
      fprintf(stderr, "%s: -A picks shoal's algorithm; NCCL reads NCCL_ALGO itself\n",
              spec.program);
      return 1;
    }
  }
  *out = o;
  return -1;
}

}  // namespace perf
