// A transport backend. Devices are looked up by name; each backend folder
// (transports/shm, transports/ucx, transports/verbs) registers one.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "transports/context.h"

namespace shoal::transport {

class Device {
 public:
  virtual ~Device() = default;
  virtual const char* name() const = 0;
  // Whether this backend can run here at all (library present, a device
  // found); `why` explains a no.
  virtual bool usable(std::string* why) const = 0;
  // Whether it can connect every rank of this job: shm needs all ranks on one
  // host. hosts[r] is rank r's host identity.
  virtual bool reachesAll(const std::vector<std::string>& hosts) const = 0;
  virtual std::unique_ptr<Context> createContext(int rank, int size) = 0;
};

// Backends in preference order for automatic choice (verbs, ucx, shm, ...).
const std::vector<Device*>& devices();
Device* findDevice(const std::string& name);

// Each backend defines one of these in its device.cc; the registry calls the
// ones compiled in.
Device* shmDevice();
Device* ucxDevice();
Device* verbsDevice();

}  // namespace shoal::transport
