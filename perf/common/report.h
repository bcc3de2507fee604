// nccl-tests' text output: header comments, the two-row column header, one
// line per size (out-of-place then in-place) and the footer. Only rank 0
// prints; every line is flushed so a long sweep shows progress.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/args.h"

namespace perf {

struct Result {
  double seconds;   // per operation, combined over ranks
  double algBw;     // GB/s
  double busBw;     // GB/s
  long long wrong;  // -1 when not checked
};

void printHeader(const Options& o);
// One "#  Rank ..." line per rank under "# Using devices".
void printDevices(const std::vector<std::string>& rankLines);
void printColumnHeader();
// size (B), count (elements), type, redop, root, then both results.
void printResultLine(size_t bytes, size_t count, const char* type, const char* op, int root,
                     const Result& outOfPlace, const Result& inPlace);
void printFooter(long long wrongTotal, double avgBusBw);
// A "# ..." comment line.
void printComment(const std::string& text);

// "#  Rank  0 Group  0 Pid   1234 on   hostname transport shm"
std::string deviceLine(int rank, const std::string& transport);

}  // namespace perf
