// Which HCA port and which GID a verbs context uses. SHOAL_IB_HCA follows NCCL's
// grammar: a comma list of dev[:port] entries, matched as name prefixes unless the
// list starts with '=' (exact names), and excluded instead of selected when it
// starts with '^'. Without it the first device with an active port wins.
#pragma once

#include <infiniband/verbs.h>

#include <string>
#include <vector>

#include "core/deadline.h"

namespace shoal::transport::verbs {

struct HcaFilter {
  struct Entry {
    std::string device;
    int port = 0;  // 0: any port
  };
  bool exclude = false;
  bool exact = false;
  std::vector<Entry> entries;

  static HcaFilter parse(const std::string& spec);
  // Whether (device, port) is selected by this filter (an empty filter selects all).
  bool selects(const std::string& device, int port) const;
};

struct PortChoice {
  std::string device;
  int port = 0;
};

// Scans the devices for an active port the filter selects. Returns false and sets
// *why ("no RDMA devices", "none active", ...) when there is none.
bool choosePort(const HcaFilter& filter, PortChoice* choice, std::string* why);

// The GID a RoCE port should use: SHOAL_IB_GID_INDEX when >= 0, else the RoCE v2
// GID that carries an IPv4 address (::ffff:a.b.c.d). Soft-RoCE adds that entry a
// moment after its link is created, so this retries until the deadline. Returns -1
// with *why set when none appears. On InfiniBand ports (which route by LID) this
// returns the forced index or 0.
int chooseGidIndex(ibv_context* ctx, int port, const ibv_port_attr& attr, Deadline deadline,
                   std::string* why);

}  // namespace shoal::transport::verbs
