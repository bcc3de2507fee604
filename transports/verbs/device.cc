// The verbs backend's entry in the transport registry.
#include "transports/device.h"

#include <memory>
#include <mutex>

#include "core/config.h"
#include "transports/verbs/context.h"
#include "transports/verbs/hca_select.h"

namespace shoal::transport {

namespace {

class VerbsDevice : public Device {
 public:
  const char* name() const override { return "verbs"; }

  bool usable(std::string* why) const override {
    // Opening every device is slow-ish and the answer does not change within a run.
    std::call_once(probed_, [this] {
      verbs::PortChoice choice;
      usable_ = verbs::choosePort(verbs::HcaFilter::parse(config::getString("SHOAL_IB_HCA")),
                                  &choice, &why_);
      if (usable_) why_ = choice.device + ":" + std::to_string(choice.port);
    });
    if (!usable_ && why) *why = why_;
    return usable_;
  }

  // RDMA reaches every host on the fabric; a missing route shows up at connect.
  bool reachesAll(const std::vector<std::string>&) const override { return true; }

  std::unique_ptr<Context> createContext(int rank, int size) override {
    return std::make_unique<verbs::VerbsContext>(rank, size);
  }

 private:
  mutable std::once_flag probed_;
  mutable bool usable_ = false;
  mutable std::string why_;
};

}  // namespace

Device* verbsDevice() {
  static VerbsDevice device;
  return &device;
}

}  // namespace shoal::transport
