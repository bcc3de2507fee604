// Ring phases over a subset of the ranks, on ranges of one buffer: the
// building blocks of the hierarchical allreduce (rings inside a node and
// across nodes).
#pragma once

#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/schedule_builder.h"

namespace shoal::algorithms {

// Ring reduce-scatter among group (this rank is group[me]): member i ends
// holding segs[i] reduced over the group, in `acc`. Each member's own
// contribution is read from `own` (which may be `acc`) at the same offsets.
void groupRingReduceScatter(ScheduleBuilder& b, const std::vector<int>& group, int me,
                            const std::vector<Segment>& segs, BufId own, BufId acc);

// Ring allgather among group: member i holds segs[i] in buf and ends holding
// every segment. Chunks of kLandMinBytes and more are marked Step::land.
void groupRingAllGather(ScheduleBuilder& b, const std::vector<int>& group, int me,
                        const std::vector<Segment>& segs, BufId buf);

// Splits [offset, offset+count) into n near-equal segments.
std::vector<Segment> splitRange(size_t offset, size_t count, int n);

}  // namespace shoal::algorithms
