#include "baselines/mpi_runtime.h"

#include <cstdlib>

namespace perf {

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  MPI_Init(argc, argv);
  // Errors come back as codes so they can be reported like shoal's.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiRuntime::~MpiRuntime() { MPI_Finalize(); }

void MpiRuntime::check(int err, const char* what) const {
  if (err == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(err, msg, &len);
  throw RuntimeError(std::string(what) + ": " + std::string(msg, static_cast<size_t>(len)));
}

MPI_Datatype MpiRuntime::datatype(shoalDataType_t t) {
  switch (t) {
    case shoalInt8:
      return MPI_INT8_T;
    case shoalUint8:
      return MPI_UINT8_T;
    case shoalInt32:
      return MPI_INT32_T;
    case shoalUint32:
      return MPI_UINT32_T;
    case shoalInt64:
      return MPI_INT64_T;
    case shoalUint64:
      return MPI_UINT64_T;
    case shoalFloat:
      return MPI_FLOAT;
    case shoalDouble:
      return MPI_DOUBLE;
    default:
      return MPI_DATATYPE_NULL;
  }
}

MPI_Op MpiRuntime::mpiOp(shoalRedOp_t op) {
  switch (op) {
    case shoalProd:
      return MPI_PROD;
    case shoalMax:
      return MPI_MAX;
    case shoalMin:
      return MPI_MIN;
    default:
      return MPI_SUM;
  }
}

std::string MpiRuntime::library() const {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, static_cast<size_t>(len));
  const size_t cut = v.find_first_of(",\n");
  if (cut != std::string::npos) v.resize(cut);
  return v;
}

// Open MPI picks its byte transfer layer itself; report what the user forced,
// if anything.
std::string MpiRuntime::transport() const {
  const char* btl = getenv("OMPI_MCA_btl");
  const char* pml = getenv("OMPI_MCA_pml");
  std::string t = "mpi";
  if (pml != nullptr) t += std::string(" pml=") + pml;
  if (btl != nullptr) t += std::string(" btl=") + btl;
  return t;
}

std::string MpiRuntime::unsupported(shoalDataType_t t, shoalRedOp_t) const {
  if (datatype(t) == MPI_DATATYPE_NULL) return "MPI has no predefined type for it";
  return {};
}

double MpiRuntime::reduceTime(double seconds, bool max) {
  double out = 0;
  check(MPI_Allreduce(&seconds, &out, 1, MPI_DOUBLE, max ? MPI_MAX : MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce(time)");
  return out;
}

long long MpiRuntime::sumOverRanks(long long v) {
  long long out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce(#wrong)");
  return out;
}

void MpiRuntime::sumBytes(unsigned char* buf, size_t n) {
  check(MPI_Allreduce(MPI_IN_PLACE, buf, static_cast<int>(n), MPI_UNSIGNED_CHAR, MPI_SUM,
                      MPI_COMM_WORLD),
        "MPI_Allreduce(device lines)");
}

void MpiRuntime::barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void MpiRuntime::abort() { MPI_Abort(MPI_COMM_WORLD, 2); }

}  // namespace perf
