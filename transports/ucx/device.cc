#include "transports/device.h"

#include <ucp/api/ucp.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "core/log.h"
#include "transports/ucx/context.h"

namespace shoal::transport {
namespace {

class UcxDevice : public Device {
 public:
  const char* name() const override { return "ucx"; }

  // Probed once per process: a UCP context with the features shoal needs and
  // a worker on it, under the UCX_* settings in effect.
  bool usable(std::string* why) const override {
    std::call_once(probed_, [this] { usable_ = probe(&why_); });
    if (!usable_ && why != nullptr) *why = why_;
    return usable_;
  }

  bool reachesAll(const std::vector<std::string>&) const override { return true; }

  std::unique_ptr<Context> createContext(int rank, int size) override {
    return std::make_unique<ucx::UcxContext>(rank, size);
  }

 private:
  static bool probe(std::string* why) {
    ucp_config_t* config = nullptr;
    ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
    if (st != UCS_OK) {
      *why = std::string("UCX ucp_config_read failed: ") + ucs_status_string(st);
      return false;
    }
    // Without UCP's registration cache, as in UcxContext (see there): its
    // creation takes UCX's memory-hook lock exclusively, which a process forked
    // at the wrong moment inherits held.
    st = ucp_config_modify(config, "RCACHE_ENABLE", "n");
    if (st != UCS_OK) {
      SHOAL_INFO(UCX, "UCX probe: cannot disable the registration cache: %s",
                 ucs_status_string(st));
    }
    ucp_params_t params{};
    params.field_mask = UCP_PARAM_FIELD_FEATURES;
    params.features = UCP_FEATURE_RMA | UCP_FEATURE_AM;
    ucp_context_h context = nullptr;
    st = ucp_init(&params, config, &context);
    ucp_config_release(config);
    if (st != UCS_OK) {
      *why = std::string("UCX ucp_init failed: ") + ucs_status_string(st);
      return false;
    }
    ucp_worker_params_t wparams{};
    wparams.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wparams.thread_mode = UCS_THREAD_MODE_SINGLE;
    ucp_worker_h worker = nullptr;
    st = ucp_worker_create(context, &wparams, &worker);
    if (st != UCS_OK) {
      ucp_cleanup(context);
      *why = std::string("UCX ucp_worker_create failed: ") + ucs_status_string(st);
      return false;
    }
    ucp_worker_destroy(worker);
    ucp_cleanup(context);
    SHOAL_INFO(UCX, "UCX %s usable", ucp_get_version_string());
    return true;
  }

  mutable std::once_flag probed_;
  mutable bool usable_ = false;
  mutable std::string why_;
};

}  // namespace

Device* ucxDevice() {
  static UcxDevice device;
  return &device;
}

}  // namespace shoal::transport
