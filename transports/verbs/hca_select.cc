#include "transports/verbs/hca_select.h"

#include <cstring>
#include <thread>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

namespace shoal::transport::verbs {

HcaFilter HcaFilter::parse(const std::string& spec) {
  HcaFilter f;
  size_t i = 0;
  // NCCL accepts the two prefixes in either order ("^=mlx5_0").
  while (i < spec.size() && (spec[i] == '^' || spec[i] == '=')) {
    (spec[i] == '^' ? f.exclude : f.exact) = true;
    ++i;
  }
  while (i < spec.size()) {
    size_t end = spec.find(',', i);
    if (end == std::string::npos) end = spec.size();
    std::string item = spec.substr(i, end - i);
    i = end + 1;
    if (item.empty()) continue;
    Entry e;
    size_t colon = item.find(':');
    e.device = item.substr(0, colon);
    if (colon != std::string::npos) e.port = atoi(item.c_str() + colon + 1);
    f.entries.push_back(e);
  }
  return f;
}

bool HcaFilter::selects(const std::string& device, int port) const {
  if (entries.empty()) return true;
  bool matched = false;
  for (const auto& e : entries) {
    bool name = exact ? device == e.device : device.compare(0, e.device.size(), e.device) == 0;
    if (name && (e.port == 0 || e.port == port)) matched = true;
  }
  return matched != exclude;
}

bool choosePort(const HcaFilter& filter, PortChoice* choice, std::string* why) {
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr || n == 0) {
    if (why) {
      *why = list == nullptr
                 ? strprintf("no RDMA devices (ibv_get_device_list: %s)", strerror(errno))
                 : "no RDMA devices";
    }
    if (list) ibv_free_device_list(list);
    return false;
  }
  std::string seen;
  bool found = false;
  for (int d = 0; d < n && !found; ++d) {
    const char* name = ibv_get_device_name(list[d]);
    ibv_context* ctx = ibv_open_device(list[d]);
    if (ctx == nullptr) {
      seen += strprintf("%s%s: cannot open (%s)", seen.empty() ? "" : "; ", name, strerror(errno));
      continue;
    }
    ibv_device_attr dattr;
    if (ibv_query_device(ctx, &dattr) == 0) {
      for (int p = 1; p <= dattr.phys_port_cnt && !found; ++p) {
        ibv_port_attr pattr;
        if (ibv_query_port(ctx, p, &pattr) != 0) continue;
        bool active = pattr.state == IBV_PORT_ACTIVE;
        bool wanted = filter.selects(name, p);
        if (active && wanted) {
          choice->device = name;
          choice->port = p;
          found = true;
        } else {
          seen += strprintf("%s%s:%d %s", seen.empty() ? "" : "; ", name, p,
                            !wanted ? "excluded by SHOAL_IB_HCA" : ibv_port_state_str(pattr.state));
        }
      }
    }
    ibv_close_device(ctx);
  }
  ibv_free_device_list(list);
  if (!found && why) *why = "none active (" + seen + ")";
  return found;
}

// ::ffff:a.b.c.d, the form RoCE uses for a GID derived from an IPv4 address.
static bool isIpv4Mapped(const ibv_gid& gid) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(gid.raw, prefix, sizeof(prefix)) == 0;
}

int chooseGidIndex(ibv_context* ctx, int port, const ibv_port_attr& attr, Deadline deadline,
                   std::string* why) {
  long long forced = config::getInt("SHOAL_IB_GID_INDEX");
  if (forced >= 0) {
    if (forced >= attr.gid_tbl_len) {
      *why = strprintf("SHOAL_IB_GID_INDEX=%lld is outside the GID table (%d entries)", forced,
                       attr.gid_tbl_len);
      return -1;
    }
    return static_cast<int>(forced);
  }
  if (attr.link_layer != IBV_LINK_LAYER_ETHERNET) return 0;
  int tries = 0;
  for (;;) {
    for (int i = 0; i < attr.gid_tbl_len; ++i) {
      ibv_gid_entry entry;
      if (ibv_query_gid_ex(ctx, port, i, &entry, 0) != 0) continue;  // empty slot
      if (entry.gid_type == IBV_GID_TYPE_ROCE_V2 && isIpv4Mapped(entry.gid)) {
        SHOAL_INFO(IB, "%s:%d using RoCE v2 GID index %d (after %d retries)",
                   ibv_get_device_name(ctx->device), port, i, tries);
        return i;
      }
    }
    if (deadline.expired()) break;
    ++tries;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  *why = strprintf(
      "%s:%d has no RoCE v2 GID with an IPv4 address (is an address configured on "
      "its netdev?); set SHOAL_IB_GID_INDEX to pick one",
      ibv_get_device_name(ctx->device), port);
  return -1;
}

}  // namespace shoal::transport::verbs
