// The fault matrix's report: each run writes its rows to
// <dir>/rows/<name>.tsv, then rebuilds <dir>/FAULTS.md from every rows file
// there, so the ctest entries (one per transport) and the rxe guest's verbs
// rows (copied back by tests/rxe/run.sh) end up in one table.
#pragma once

#include <string>
#include <vector>

namespace shoal::test {

struct MatrixRow {
  std::string name, transport, algorithm, victim, phase, expected, observed, time, leaks, verdict;
};

// What the table's header says about how the cases ran.
struct MatrixSetup {
  int ranks;
  int calls;
  size_t count;
  double timeout, stopTimeout, verbsTimeout;
};

// Writes rows to <dir>/rows/<file>.tsv (file: any text, made safe as a name).
void writeMatrixRows(const std::string& dir, const std::string& file,
                     const std::vector<MatrixRow>& rows);
// Rebuilds <dir>/FAULTS.md from all rows files in <dir>/rows; false if none.
bool writeMatrixMarkdown(const std::string& dir, const MatrixSetup& setup);

}  // namespace shoal::test
