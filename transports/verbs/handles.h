// Owning handles for verbs objects, so bring-up is a straight acquire chain and a
// failure half-way releases what was acquired in reverse order.
#pragma once

#include <infiniband/verbs.h>

#include <memory>

#include "transports/verbs/reg_cache.h"

namespace shoal::transport::verbs {

template <auto Release>
struct VerbsRelease {
  template <class T>
  void operator()(T* p) const {
    if (p != nullptr) (void)Release(p);
  }
};

using DeviceHandle = std::unique_ptr<ibv_context, VerbsRelease<ibv_close_device>>;
using PdHandle = std::unique_ptr<ibv_pd, VerbsRelease<ibv_dealloc_pd>>;
using ChannelHandle = std::unique_ptr<ibv_comp_channel, VerbsRelease<ibv_destroy_comp_channel>>;
using CqHandle = std::unique_ptr<ibv_cq, VerbsRelease<ibv_destroy_cq>>;
using QpHandle = std::unique_ptr<ibv_qp, VerbsRelease<ibv_destroy_qp>>;
using MrHandle = std::unique_ptr<ibv_mr, VerbsRelease<ibv_dereg_mr>>;

// The opened device, its protection domain and the registrations in it. Shared by
// the context and every Buffer it handed out, so a Buffer outliving its context
// still deregisters before the domain goes away.
struct Domain {
  DeviceHandle device;
  PdHandle pd;
  std::unique_ptr<RegCache> cache;  // declared last: destroyed first
};

}  // namespace shoal::transport::verbs
