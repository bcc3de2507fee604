#include "topo/node_group.h"

#include <unistd.h>

#include <map>

#include "core/config.h"

namespace shoal::topo {

std::string nodeKey(const Topology& topo) {
  std::string id = config::getString("SHOAL_HOST_ID");
  if (!id.empty()) return id;
  if (topo.available && !topo.machineId.empty()) return topo.machineId;
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

std::vector<int> nodeOfRanks(const std::vector<std::string>& keys) {
  std::map<std::string, int> index;
  std::vector<int> out;
  for (const auto& k : keys) {
    auto it = index.emplace(k, static_cast<int>(index.size())).first;
    out.push_back(it->second);
  }
  return out;
}

std::vector<std::vector<int>> ranksByNode(const std::vector<std::string>& keys) {
  std::vector<int> node = nodeOfRanks(keys);
  std::vector<std::vector<int>> out;
  for (size_t r = 0; r < node.size(); ++r) {
    if (static_cast<size_t>(node[r]) >= out.size()) out.resize(node[r] + 1);
    out[node[r]].push_back(static_cast<int>(r));
  }
  return out;
}

std::vector<int> localRanks(const std::vector<std::string>& keys) {
  std::vector<int> node = nodeOfRanks(keys), seen, out;
  for (int n : node) {
    if (static_cast<size_t>(n) >= seen.size()) seen.resize(n + 1, 0);
    out.push_back(seen[n]++);
  }
  return out;
}

}  // namespace shoal::topo
