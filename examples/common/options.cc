#include "common/options.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace train {

namespace {

void usage(const char* program, FILE* out) {
  fprintf(out,
          "usage: %s [options]\n"
          "  --data DIR         Fashion-MNIST directory (default %s)\n"
          "  --epochs N         passes over the training set (default 5)\n"
          "  --steps N          stop after N steps in all (default: the epochs decide)\n"
          "  --batch N          global batch size, split over the ranks (default 128)\n"
          "  --hidden N         hidden units (default 256)\n"
          "  --lr X             (initial) learning rate (default 0.1)\n"
          "  --momentum X       momentum (default 0.9)\n"
          "  --schedule S       learning rate schedule: cosine (from --lr down to 0 over the\n"
          "                     run, the default) or constant\n"
          "  --seed N           initialisation and shuffling seed (default 1)\n"
          "  --log-every N      steps between progress lines (default 100)\n"
          "  --csv FILE         write the loss curve to FILE (rank 0)\n"
          "  --test-images N    evaluate on the first N test images only (default: all;\n"
          "                     for emulated machines where 10,000 take minutes)\n"
          "  --check            after every step, check that all ranks hold bitwise identical\n"
          "                     parameters, and for the first --check-steps steps that they\n"
          "                     match a single-process run on the same global batches\n"
          "  --check-steps N    steps compared with the single-process reference (default 50)\n"
          "  --check-tol X      allowed deviation from the reference, relative to how far the\n"
          "                     reference moved from the initial parameters (default 1e-3)\n"
          "  --fault KIND:STEP[:RANK]\n"
          "                     break step STEP on purpose, to see --check catch it:\n"
          "                     params:STEP:RANK changes one parameter on RANK;\n"
          "                     grad:STEP doubles the combined gradient on every rank\n",
          program, kDefaultDataDir);
}

bool parseSize(const char* s, size_t lo, size_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || *s == '-' || v < lo) return false;
  *out = static_cast<size_t>(v);
  return true;
}

bool parseReal(const char* s, double lo, double* out) {
  char* end = nullptr;
  errno = 0;
  const double v = strtod(s, &end);
  if (errno || end == s || *end || !std::isfinite(v) || v < lo) return false;
  *out = v;
  return true;
}

}  // namespace

int parseOptions(int argc, char** argv, const char* program, TrainOptions* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(program, stdout);
      return 0;
    }
    if (a == "--check") {
      o->check = true;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "%s: %s needs a value (or is unknown; see --help)\n", program, a.c_str());
      return 2;
    }
    const char* v = argv[++i];
    bool ok = true;
    size_t n = 0;
    double x = 0;
    if (a == "--data") {
      o->dataDir = v;
    } else if (a == "--epochs") {
      ok = parseSize(v, 1, &o->epochs);
    } else if (a == "--steps") {
      ok = parseSize(v, 1, &o->steps);
    } else if (a == "--batch") {
      ok = parseSize(v, 1, &o->batch);
    } else if (a == "--hidden") {
      ok = parseSize(v, 1, &o->hidden);
    } else if (a == "--lr") {
      ok = parseReal(v, 0, &x);
      o->lr = static_cast<float>(x);
    } else if (a == "--momentum") {
      ok = parseReal(v, 0, &x) && x < 1;
      o->momentum = static_cast<float>(x);
    } else if (a == "--schedule") {
      ok = std::string(v) == "cosine" || std::string(v) == "constant";
      o->cosine = std::string(v) == "cosine";
    } else if (a == "--seed") {
      ok = parseSize(v, 0, &n);
      o->seed = n;
    } else if (a == "--log-every") {
      ok = parseSize(v, 1, &o->logEvery);
    } else if (a == "--csv") {
      o->csv = v;
    } else if (a == "--test-images") {
      ok = parseSize(v, 1, &o->testImages);
    } else if (a == "--check-steps") {
      ok = parseSize(v, 0, &o->checkSteps);
    } else if (a == "--check-tol") {
      ok = parseReal(v, 0, &o->checkTol);
    } else if (a == "--fault") {
      o->fault = v;
    } else {
      fprintf(stderr, "%s: unknown option %s (see --help)\n", program, a.c_str());
      return 2;
    }
    if (!ok) {
      fprintf(stderr, "%s: bad value '%s' for %s\n", program, v, a.c_str());
      return 2;
    }
  }
  return -1;
}

}  // namespace train
