// The C API: argument checks, then the core; no exception crosses this file.
#include <sys/random.h>

#include <cstring>
#include <string>

#include "core/bootstrap.h"
#include "core/comm.h"
#include "core/env_init.h"
#include "core/error.h"
#include "core/log.h"
#include "core/reduce.h"
#include "shoal/shoal.h"

namespace {

thread_local std::string tlsLastError;

shoalResult_t record(shoalComm_t comm, shoalResult_t code, const std::string& msg) {
  tlsLastError = msg;
  if (comm) comm->lastError = msg;
  return code;
}

// Runs fn, turning every exception into a result code and a message.
template <class Fn>
shoalResult_t guarded(shoalComm_t comm, Fn&& fn) {
  try {
    fn();
    return shoalSuccess;
  } catch (const shoal::Error& e) {
    return record(comm, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return record(comm, shoalSystemError, "out of memory");
  } catch (const std::exception& e) {
    return record(comm, shoalInternalError, std::string("internal error: ") + e.what());
  } catch (...) {
    return record(comm, shoalInternalError, "internal error: unknown exception");
  }
}

shoalResult_t invalid(shoalComm_t comm, shoalResult_t code, const std::string& msg) {
  SHOAL_WARN(ALL, "%s", msg.c_str());
  return record(comm, code, msg);
}

bool overlaps(const void* a, const void* b, size_t bytes) {
  auto x = reinterpret_cast<uintptr_t>(a);
  auto y = reinterpret_cast<uintptr_t>(b);
  return x != y && x < y + bytes && y < x + bytes;
}

}  // namespace

extern "C" {

shoalResult_t shoalGetVersion(int* version) {
  if (!version) return invalid(nullptr, shoalInvalidArgument, "shoalGetVersion: version is NULL");
  *version = SHOAL_VERSION_CODE;
  return shoalSuccess;
}

const char* shoalGetErrorString(shoalResult_t result) {
  switch (result) {
    case shoalSuccess:
      return "no error";
    case shoalUnhandledCudaError:
      return "unhandled cuda error (run with SHOAL_DEBUG=INFO for details)";
    case shoalSystemError:
      return "unhandled system error (run with SHOAL_DEBUG=INFO for details)";
    case shoalInternalError:
      return "internal error - please report this issue to the shoal developers";
    case shoalInvalidArgument:
      return "invalid argument (run with SHOAL_DEBUG=WARN for details)";
    case shoalInvalidUsage:
      return "invalid usage (run with SHOAL_DEBUG=WARN for details)";
    case shoalRemoteError:
      return "remote process exited or there was a network error";
    case shoalInProgress:
      return "operation in progress";
    case shoalTimeout:
      return "operation timed out (SHOAL_TIMEOUT)";
    default:
      return "unknown result code";
  }
}

const char* shoalGetLastError(shoalComm_t comm) {
  return comm ? comm->lastError.c_str() : tlsLastError.c_str();
}

shoalResult_t shoalGetUniqueId(shoalUniqueId* uniqueId) {
  if (!uniqueId)
    return invalid(nullptr, shoalInvalidArgument, "shoalGetUniqueId: uniqueId is NULL");
  return guarded(nullptr, [&] {
    shoal::UniqueIdData d = shoal::createRoot();
    memset(uniqueId, 0, sizeof(*uniqueId));
    memcpy(uniqueId->internal, &d, sizeof(d));
  });
}

shoalResult_t shoalCommInitRank(shoalComm_t* comm, int nranks, shoalUniqueId commId, int rank) {
  if (!comm) return invalid(nullptr, shoalInvalidArgument, "shoalCommInitRank: comm is NULL");
  *comm = nullptr;
  return guarded(nullptr, [&] {
    shoal::UniqueIdData d;
    memcpy(&d, commId.internal, sizeof(d));
    *comm = shoal::commCreate(d, nranks, rank).release();
  });
}

shoalResult_t shoalCommInitFromEnv(shoalComm_t* comm) {
  if (!comm) return invalid(nullptr, shoalInvalidArgument, "shoalCommInitFromEnv: comm is NULL");
  *comm = nullptr;
  return guarded(nullptr, [&] {
    shoal::EnvInit env = shoal::resolveEnvInit();
    shoal::UniqueIdData d = shoal::createRootAt(env.rootHostPort, env.secretHex, env.rank == 0);
    *comm = shoal::commCreate(d, env.size, env.rank).release();
  });
}

shoalResult_t shoalCommDestroy(shoalComm_t comm) {
  if (!comm) return invalid(nullptr, shoalInvalidArgument, "shoalCommDestroy: comm is NULL");
  shoalResult_t r = guarded(nullptr, [&] { shoal::commDestroy(comm); });
  delete comm;
  return r;
}

shoalResult_t shoalCommAbort(shoalComm_t comm) {
  if (!comm) return invalid(nullptr, shoalInvalidArgument, "shoalCommAbort: comm is NULL");
  comm->aborted.store(true);
  shoalResult_t r = guarded(nullptr, [&] { shoal::commDestroy(comm); });
  delete comm;
  return r;
}

shoalResult_t shoalCommCount(const shoalComm_t comm, int* count) {
  if (!comm || !count)
    return invalid(comm, shoalInvalidArgument, "shoalCommCount: comm or count is NULL");
  *count = comm->size;
  return shoalSuccess;
}

shoalResult_t shoalCommUserRank(const shoalComm_t comm, int* rank) {
  if (!comm || !rank)
    return invalid(comm, shoalInvalidArgument, "shoalCommUserRank: comm or rank is NULL");
  *rank = comm->rank;
  return shoalSuccess;
}

shoalResult_t shoalAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                             shoalDataType_t datatype, shoalRedOp_t op, shoalComm_t comm,
                             shoalStream_t stream) {
  if (!comm) return invalid(nullptr, shoalInvalidArgument, "shoalAllReduce: comm is NULL");
  const int rank = comm->rank;
  if (!shoal::validDtype(datatype)) {
    return invalid(comm, shoalInvalidArgument,
                   shoal::strprintf("rank %d: allreduce: invalid datatype %d", rank,
                                    static_cast<int>(datatype)));
  }
  if (!shoal::validOp(op)) {
    return invalid(comm, shoalInvalidArgument,
                   shoal::strprintf("rank %d: allreduce: invalid reduction op %d", rank,
                                    static_cast<int>(op)));
  }
  size_t es = shoal::dtypeSize(datatype);
  if (count > SIZE_MAX / es || count * es > static_cast<size_t>(PTRDIFF_MAX)) {
    return invalid(
        comm, shoalInvalidArgument,
        shoal::strprintf("rank %d: allreduce: count %zu of %s overflows the address space", rank,
                         count, shoal::dtypeName(datatype)));
  }
  if (count > 0 && (!sendbuff || !recvbuff)) {
    return invalid(comm, shoalInvalidArgument,
                   shoal::strprintf("rank %d: allreduce: %s is NULL with count %zu", rank,
                                    sendbuff ? "recvbuff" : "sendbuff", count));
  }
  if (overlaps(sendbuff, recvbuff, count * es)) {
    return invalid(
        comm, shoalInvalidArgument,
        shoal::strprintf(
            "rank %d: allreduce: sendbuff and recvbuff overlap without being identical", rank));
  }
  if (stream) {
    return invalid(comm, shoalInvalidUsage,
                   shoal::strprintf(
                       "rank %d: allreduce: a stream was given but this build has no CUDA support; "
                       "pass NULL for host buffers",
                       rank));
  }
  return guarded(comm,
                 [&] { shoal::commAllReduce(comm, sendbuff, recvbuff, count, datatype, op); });
}

const char* shoalCommLastAlgorithm(shoalComm_t comm) {
  return comm ? comm->lastAlgorithm.c_str() : "none";
}

const char* shoalCommTransportName(shoalComm_t comm) {
  return comm && comm->transport ? comm->transport->name() : "none";
}

}  // extern "C"
