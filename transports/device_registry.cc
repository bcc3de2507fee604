#include <cstring>

#include "shoal/build_config.h"
#include "transports/device.h"

namespace shoal::transport {

const std::vector<Device*>& devices() {
  // Preference order for the automatic choice: RDMA first, shm last (shm
  // only applies when every rank shares one host).
  static const std::vector<Device*> list = [] {
    std::vector<Device*> v;
#if SHOAL_WITH_VERBS_ENABLED
    v.push_back(verbsDevice());
#endif
#if SHOAL_WITH_UCX_ENABLED
    v.push_back(ucxDevice());
#endif
    v.push_back(shmDevice());
    return v;
  }();
  return list;
}

Device* findDevice(const std::string& name) {
  for (auto* d : devices()) {
    if (name == d->name()) return d;
  }
  return nullptr;
}

}  // namespace shoal::transport
