#include "sim/profile.h"

#include <cstdlib>
#include <sstream>

#include "core/error.h"

namespace shoal::sim {

namespace {

struct Field {
  const char* key;
  double Profile::*d;
  int Profile::*i;
};

const Field kFields[] = {
    {"intraGBps", &Profile::intraGBps, nullptr},
    {"intraLatUs", &Profile::intraLatUs, nullptr},
    {"nicGBps", &Profile::nicGBps, nullptr},
    {"nicLatUs", &Profile::nicLatUs, nullptr},
    {"nicsPerNode", nullptr, &Profile::nicsPerNode},
    {"mtuBytes", &Profile::mtuBytes, nullptr},
    {"packetHeaderBytes", &Profile::packetHeaderBytes, nullptr},
    {"leafNodes", nullptr, &Profile::leafNodes},
    {"oversub", &Profile::oversub, nullptr},
    {"stepUs", &Profile::stepUs, nullptr},
    {"localStepUs", &Profile::localStepUs, nullptr},
    {"reduceGBps", &Profile::reduceGBps, nullptr},
    {"copyGBps", &Profile::copyGBps, nullptr},
    {"senderCopyGBps", &Profile::senderCopyGBps, nullptr},
    {"ctrlLatUs", &Profile::ctrlLatUs, nullptr},
    {"coresPerNode", nullptr, &Profile::coresPerNode},
};

}  // namespace

std::vector<std::string> profileNames() { return {"ndr400", "this-machine-shm"}; }

Profile namedProfile(const std::string& name) {
  Profile p;
  p.name = name;
  if (name == "ndr400") {
    // One NDR InfiniBand NIC (400 Gb/s = 50 GB/s of data after the link's
    // own encoding) per GPU rank, NVLink-class 900 GB/s per GPU (450 GB/s
    // each way), non-blocking fat tree. Software costs are NCCL-like: a few
    // hundred ns to post a work request or finish a chunk on the GPU side,
    // reductions at HBM speed. Packet headers: IB LRH+GRH+BTH+RETH+ICRC+VCRC
    // are about 78 bytes per 4 KiB MTU packet.
    p.transport = "verbs";
    p.intraGBps = 450;
    p.intraLatUs = 0.7;
    p.nicGBps = 50;
    p.nicLatUs = 2.0;
    p.nicsPerNode = 0;
    p.mtuBytes = 4096;
    p.packetHeaderBytes = 78;
    p.stepUs = 0.5;
    p.localStepUs = 0.1;
    p.reduceGBps = 600;
    p.copyGBps = 1000;
  } else if (name == "this-machine-shm") {
    // Fitted to all_reduce_perf over shm on the project VM (2 cores shared
    // by all ranks); perf/SCALE.md shows the runs and the fit. Shared memory
    // has no wire: the sender's thread copies each chunk into the peer's
    // slot and the receiver's thread copies or reduces it out, so both ends
    // spend engine time per byte, and ranks beyond the cores share them.
    p.transport = "shm";
    p.intraGBps = 1000;  // not a limit: the engines are
    p.intraLatUs = 1.75;
    p.nicGBps = 1000;
    p.nicLatUs = 1.75;
    p.nicsPerNode = 0;
    p.stepUs = 2.5;
    p.localStepUs = 0.2;
    p.reduceGBps = 0.9;
    p.copyGBps = 0.9;
    p.senderCopyGBps = 0.9;
    p.coresPerNode = 2;
  } else {
    std::string known;
    for (const auto& n : profileNames()) known += (known.empty() ? "" : ", ") + n;
    fail(shoalInvalidArgument, "sim: unknown profile '%s' (known: %s)", name.c_str(),
         known.c_str());
  }
  return p;
}

void setProfileField(Profile* p, const std::string& assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos)
    fail(shoalInvalidArgument, "sim: '%s': expected key=value", assignment.c_str());
  const std::string key = assignment.substr(0, eq), val = assignment.substr(eq + 1);
  char* end = nullptr;
  double v = strtod(val.c_str(), &end);
  if (val.empty() || *end != '\0')
    fail(shoalInvalidArgument, "sim: '%s': '%s' is not a number", assignment.c_str(), val.c_str());
  for (const Field& f : kFields) {
    if (key != f.key) continue;
    if (f.d) {
      p->*f.d = v;
    } else {
      p->*f.i = static_cast<int>(v);
    }
    return;
  }
  std::string known;
  for (const Field& f : kFields) known += std::string(known.empty() ? "" : ", ") + f.key;
  fail(shoalInvalidArgument, "sim: unknown profile field '%s' (known: %s)", key.c_str(),
       known.c_str());
}

std::string describeProfile(const Profile& p) {
  std::ostringstream os;
  os << "profile " << p.name << " (tuner transport " << p.transport << "):";
  for (const Field& f : kFields) {
    os << " " << f.key << "=";
    if (f.d) {
      os << p.*f.d;
    } else {
      os << p.*f.i;
    }
  }
  return os.str();
}

}  // namespace shoal::sim
