// all_reduce_perf over MPI_Allreduce: the Open MPI baseline, same output.
#include <climits>
#include <memory>

#include "baselines/mpi_runtime.h"
#include "common/args.h"
#include "common/datatypes.h"
#include "common/driver.h"

int main(int argc, char** argv) {
  perf::Options o;
  const int rc = perf::parseArgs(argc, argv, {"mpi_all_reduce_perf", false}, &o);
  if (rc >= 0) return rc;
  return perf::runMain(
      "mpi_all_reduce_perf", o, [&] { return std::make_unique<perf::MpiRuntime>(&argc, &argv); },
      [](perf::Runtime& rt) {
        auto& mpi = static_cast<perf::MpiRuntime&>(rt);
        return perf::allReduceCollective([&mpi](const perf::Call& c) {
          if (c.count > INT_MAX) throw perf::RuntimeError("count exceeds MPI's int");
          const void* send = c.send == c.recv ? MPI_IN_PLACE : c.send;
          mpi.check(MPI_Allreduce(send, c.recv, static_cast<int>(c.count),
                                  perf::MpiRuntime::datatype(c.type), perf::MpiRuntime::mpiOp(c.op),
                                  MPI_COMM_WORLD),
                    "MPI_Allreduce");
          // MPI has no average: sum, then divide locally (inside the timing).
          if (c.op == shoalAvg) perf::divideInPlace(c.recv, c.count, c.type, mpi.size());
        });
      });
}
