// shoal-info: what this installation of shoal is and can do here: version,
// compiled-in options, which transports work on this machine (and why not),
// and with -c every tunable with its value and where the value came from.
#include <cstdio>
#include <cstring>
#include <string>

#include "core/config.h"
#include "shoal/build_config.h"
#include "shoal/shoal.h"
#include "topo/report.h"
#include "topo/topology.h"
#include "transports/device.h"
#if SHOAL_WITH_VERBS_ENABLED
#include "transports/verbs/gdr.h"
#endif

namespace {

void usage(FILE* to) {
  fprintf(to,
          "usage: shoal-info [-c] [-v] [--topo] [--gdr]\n"
          "  (none)  version, build options and the transports usable on this machine\n"
          "  -c      also every SHOAL_* variable with its value, source and meaning\n"
          "  -v      the version only\n"
          "  --topo  also the node's GPUs, NICs, GPU x NIC path classes and each local rank's\n"
          "          NIC, GPUDirect RDMA and binding (SHOAL_TOPO_FILE reads another node)\n"
          "  --gdr   also every GPU x NIC pair's GPUDirect RDMA method (dmabuf, peermem or\n"
          "          staging) and why; part of --topo too\n");
}

void printVersion() {
  int code = 0;
  if (shoalGetVersion(&code) != shoalSuccess) {
    printf("shoal: shoalGetVersion failed: %s\n", shoalGetLastError(nullptr));
    return;
  }
  printf("shoal %d.%d.%d (library version code %d, built against headers %s)\n", code / 10000,
         code / 100 % 100, code % 100, code, SHOAL_VERSION_STRING);
}

void printBuild() {
  printf("\nBuild options:\n");
  printf("  %-16s %s\n", "verbs transport", SHOAL_WITH_VERBS_ENABLED ? "yes" : "no");
  printf("  %-16s %s\n", "UCX transport", SHOAL_WITH_UCX_ENABLED ? "yes" : "no");
  printf("  %-16s %s\n", "hwloc topology", SHOAL_WITH_HWLOC_ENABLED ? "yes" : "no");
  printf("  %-16s %s\n", "CUDA buffers", SHOAL_WITH_CUDA_ENABLED ? "yes" : "no");
}

void printTransports() {
  printf("\nTransports (in the order the automatic choice tries them):\n");
  for (auto* dev : shoal::transport::devices()) {
    std::string why;
    bool ok = false;
    try {
      ok = dev->usable(&why);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (ok) {
      printf("  %-8s usable%s%s\n", dev->name(), why.empty() ? "" : ": ", why.c_str());
    } else {
      printf("  %-8s not usable: %s\n", dev->name(),
             why.empty() ? "(no reason given)" : why.c_str());
    }
  }
}

void printConfig() {
  printf("\nVariables (value, source, meaning):\n");
  for (const auto& e : shoal::config::all()) {
    printf("  %s=%s\n", e.name, e.value.c_str());
    printf("      source: %s", e.source.c_str());
    if (e.source != "default") printf(" (default: '%s')", e.defaultValue);
    printf("\n      %s\n", e.doc);
  }
}

// GPUDirect RDMA per GPU x NIC pair (transports/verbs/gdr.h).
void printGdr(const shoal::topo::Topology& topo) {
#if SHOAL_WITH_VERBS_ENABLED
  printf("%s", shoal::transport::verbs::describeGdr(topo).c_str());
#else
  (void)topo;
  printf("\nGPUDirect RDMA (verbs):\n  built without the verbs transport: GPU memory is staged\n");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  bool config = false;
  bool topo = false;
  bool gdr = false;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "-c") == 0) {
      config = true;
    } else if (strcmp(argv[i], "--topo") == 0) {
      topo = true;
    } else if (strcmp(argv[i], "--gdr") == 0) {
      gdr = true;
    } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--version") == 0) {
      printVersion();
      return 0;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "shoal-info: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  printVersion();
  printBuild();
  printTransports();
  if (config) printConfig();
  if (topo) printf("%s", shoal::topo::describe(shoal::topo::systemTopology()).c_str());
  if (topo || gdr) printGdr(shoal::topo::systemTopology());
  return 0;
}
