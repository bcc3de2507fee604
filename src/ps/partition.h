// Where a tensor's bytes live: a key's tensor is cut into partitions of a
// fixed size (the last one shorter), and each partition is owned by one
// server. Workers compute this on their own, so the rule is a pure function of
// (key, partition, number of servers): every worker agrees without asking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace shoal::ps {

struct Partition {
  uint32_t index;
  size_t offset;  // bytes into the tensor
  size_t bytes;
  int server;  // index among the servers
};

// A 64-bit mix (splitmix64 finaliser): keys that differ in one bit land far apart.
uint64_t mixKey(uint64_t key);

// Consecutive partitions of one key go to consecutive servers, starting at a
// server the key's hash picks: a large tensor spreads evenly over all servers
// and many small ones spread by the hash.
int serverOf(uint64_t key, uint32_t partition, int numServers);

// partitionBytes is rounded down to whole elements (at least one).
std::vector<Partition> partitionTensor(uint64_t key, size_t bytes, size_t elemBytes,
                                       size_t partitionBytes, int numServers);

}  // namespace shoal::ps
