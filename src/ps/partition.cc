#include "ps/partition.h"

#include <algorithm>

namespace shoal::ps {

uint64_t mixKey(uint64_t key) {
  uint64_t z = key + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int serverOf(uint64_t key, uint32_t partition, int numServers) {
  if (numServers <= 1) return 0;
  uint64_t n = static_cast<uint64_t>(numServers);
  return static_cast<int>((mixKey(key) % n + partition % n) % n);
}

std::vector<Partition> partitionTensor(uint64_t key, size_t bytes, size_t elemBytes,
                                       size_t partitionBytes, int numServers) {
  size_t per = std::max(elemBytes, partitionBytes / elemBytes * elemBytes);
  std::vector<Partition> parts;
  uint32_t index = 0;
  for (size_t off = 0; off < bytes; off += per, ++index) {
    parts.push_back({index, off, std::min(per, bytes - off), serverOf(key, index, numServers)});
  }
  return parts;
}

}  // namespace shoal::ps
