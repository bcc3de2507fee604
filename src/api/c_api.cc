// The C API: argument checks, then the core; no exception crosses this file.
#include <sys/random.h>
#include <time.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

#include "core/bootstrap.h"
#include "core/comm.h"
#include "core/env_init.h"
#include "core/error.h"
#include "core/log.h"
#include "core/reduce.h"
#include "core/stream_proxy.h"
#include "cuda/cuda_api.h"
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

// Communicators created and not yet destroyed. A handle used after destroy is
// refused instead of dereferenced.
std::mutex liveMutex;
std::unordered_set<shoalComm_t> liveComms;

// Destroyed communicators are emptied (commDestroy plus release()) but their
// memory is kept, so a thread's fast claim below may read one that another
// thread destroyed a moment ago. Only past kKeptShells are the oldest freed,
// and freeing bumps shellsFreed, which sends every thread's next claim
// through the lock again. (A claim that read shellsFreed just before would
// still touch the freed shell: that takes a call on a destroyed communicator
// stalled between two instructions while 1024 others are destroyed.)
constexpr size_t kKeptShells = 1024;
std::deque<shoalComm_t> shells;  // under liveMutex
std::atomic<uint64_t> shellsFreed{0};

// The communicator this thread claimed last, known to be allocated while
// shellsFreed has not moved.
// Initial-exec TLS: read straight off the thread pointer instead of through
// __tls_get_addr, a call per access in a shared library. 16 bytes of the
// static TLS reserve, which glibc keeps for libraries loaded later too.
__attribute__((tls_model("initial-exec"))) thread_local shoalComm_t tlsClaimed = nullptr;
__attribute__((tls_model("initial-exec"))) thread_local uint64_t tlsClaimedFreed = 0;

void keepShell(shoalComm_t comm) {
  std::lock_guard<std::mutex> lock(liveMutex);
  shells.push_back(comm);
  if (shells.size() > kKeptShells) {
    shellsFreed.fetch_add(1, std::memory_order_seq_cst);
    delete shells.front();
    shells.pop_front();
  }
}

bool isLive(shoalComm_t comm) {
  std::lock_guard<std::mutex> lock(liveMutex);
  return liveComms.count(comm) != 0;
}

shoalResult_t notLive(const char* what) {
  return invalid(nullptr, shoalInvalidUsage,
                 shoal::strprintf("%s: comm is not a live communicator (already destroyed or "
                                  "aborted, or never created)",
                                  what));
}

// Claims comm for one call: refused when comm is not live or when another
// thread is inside a call on it (communicators are not thread-safe).
//
// A thread calling again on the communicator it used last takes it with one
// atomic exchange: the live-set lock and lookup cost two more locked
// instructions per call, each waiting for the previous call's stores to the
// peers' memory to drain. retire() clears comm->live before it takes inCall,
// and this side takes inCall before it reads comm->live (both sequentially
// consistent), so either the claim sees the communicator dead, or retire
// waits for this call to end. Anything unusual goes the locked way.
shoalResult_t claim(shoalComm_t comm, const char* what) {
  if (comm == tlsClaimed && tlsClaimedFreed == shellsFreed.load(std::memory_order_seq_cst)) {
    if (!comm->inCall.exchange(true, std::memory_order_seq_cst)) {
      if (comm->live.load(std::memory_order_seq_cst)) return shoalSuccess;
      comm->inCall.store(false, std::memory_order_release);
    }
  }
  std::lock_guard<std::mutex> lock(liveMutex);
  if (liveComms.count(comm) == 0) return notLive(what);
  if (comm->inCall.exchange(true, std::memory_order_seq_cst)) {
    return invalid(comm, shoalInvalidUsage,
                   shoal::strprintf("rank %d: %s: another thread is inside a call on this "
                                    "communicator",
                                    comm->rank, what));
  }
  tlsClaimed = comm;
  tlsClaimedFreed = shellsFreed.load(std::memory_order_seq_cst);
  return shoalSuccess;
}

// Ends a claimed call: a plain store on x86, where a mutex unlock would be a
// locked instruction that waits for this call's stores to drain first.
struct CallHold {
  shoalComm_t comm;
  explicit CallHold(shoalComm_t c) : comm(c) {}
  ~CallHold() { comm->inCall.store(false, std::memory_order_release); }
  CallHold(const CallHold&) = delete;
  CallHold& operator=(const CallHold&) = delete;
};

// Takes comm out of the live set and waits (bounded by its timeout) for a
// call still running on it to leave. False when that call did not leave.
shoalResult_t retire(shoalComm_t comm, const char* what) {
  {
    std::lock_guard<std::mutex> lock(liveMutex);
    if (liveComms.erase(comm) == 0) return notLive(what);
    comm->live.store(false, std::memory_order_seq_cst);
  }
  double wait = std::max(comm->timeoutSeconds, 1.0) + 5.0;
  const shoal::Deadline deadline = shoal::Deadline::after(wait);
  bool left = false;
  while (!(left = !comm->inCall.exchange(true, std::memory_order_seq_cst)) && !deadline.expired()) {
    struct timespec ts = {0, 200000};
    nanosleep(&ts, nullptr);
  }
  if (!left) {
    // Freeing it under the running call would crash that thread; leak instead.
    return invalid(nullptr, shoalInternalError,
                   shoal::strprintf("rank %d: %s: a call on another thread did not return within "
                                    "%.1f s; the communicator is leaked",
                                    comm->rank, what, wait));
  }
  return shoalSuccess;
}

// Destroys a retired communicator: its resources go now, its emptied shell
// later (see keepShell).
shoalResult_t finish(shoalComm_t comm) {
  shoalResult_t r = guarded(nullptr, [&] { shoal::commDestroy(comm); });
  comm->release();
  keepShell(comm);
  return r;
}

// Argument checks shared by every collective, then the core. Buffer sizes
// follow NCCL: reducescatter sends n*count and receives count, allgather the
// reverse; broadcast/reduce buffers matter only where the root says so.
// The value a caller stored in an enum argument, read without loading it as
// the enum type: any int may arrive through the C ABI, and loading one that
// names no enumerator is undefined behaviour (UBSan reports it).
template <class E>
int rawEnum(const E& e) {
  static_assert(sizeof(E) == sizeof(int));
  int v;
  memcpy(&v, &e, sizeof(v));
  return v;
}

shoalResult_t collective(shoal::CollKind kind, const void* sendbuff, void* recvbuff, size_t count,
                         int rawDatatype, int rawOp, int root, shoalComm_t comm,
                         shoalStream_t stream) {
  const char* name = shoal::collName(kind);
  if (!comm)
    return invalid(nullptr, shoalInvalidArgument, shoal::strprintf("%s: comm is NULL", name));
  // Claimed first: one lock for liveness and exclusivity, and comm is only
  // read once it is known to be live.
  shoalResult_t claimed = claim(comm, name);
  if (claimed != shoalSuccess) return claimed;
  CallHold hold(comm);
  const int rank = comm->rank;
  const int n = comm->size;
  if (!shoal::validDtype(rawDatatype)) {
    return invalid(comm, shoalInvalidArgument,
                   shoal::strprintf("rank %d: %s: invalid datatype %d", rank, name, rawDatatype));
  }
  if (!shoal::validOp(rawOp)) {
    return invalid(comm, shoalInvalidArgument,
                   shoal::strprintf("rank %d: %s: invalid reduction op %d", rank, name, rawOp));
  }
  const auto datatype = static_cast<shoalDataType_t>(rawDatatype);
  const auto op = static_cast<shoalRedOp_t>(rawOp);
  if ((kind == shoal::CollKind::kBroadcast || kind == shoal::CollKind::kReduce) &&
      (root < 0 || root >= n)) {
    return invalid(
        comm, shoalInvalidArgument,
        shoal::strprintf("rank %d: %s: root %d is outside [0, %d)", rank, name, root, n));
  }
  const size_t es = shoal::dtypeSize(datatype);
  const bool scatterGather =
      kind == shoal::CollKind::kReduceScatter || kind == shoal::CollKind::kAllGather;
  const size_t factor = scatterGather ? static_cast<size_t>(n) : 1;
  size_t total = 0;  // without a division: this check runs on every call
  if (__builtin_mul_overflow(count, es * factor, &total) ||
      total > static_cast<size_t>(PTRDIFF_MAX)) {
    return invalid(comm, shoalInvalidArgument,
                   shoal::strprintf("rank %d: %s: count %zu of %s overflows the address space",
                                    rank, name, count, shoal::dtypeName(datatype)));
  }
  size_t sendBytes = count * es;
  size_t recvBytes = count * es;
  bool needSend = true;
  bool needRecv = true;
  if (kind == shoal::CollKind::kReduceScatter) sendBytes *= factor;
  if (kind == shoal::CollKind::kAllGather) recvBytes *= factor;
  if (kind == shoal::CollKind::kBroadcast) needSend = rank == root;
  if (kind == shoal::CollKind::kReduce) needRecv = rank == root;
  if (count > 0 && ((needSend && !sendbuff) || (needRecv && !recvbuff))) {
    return invalid(comm, shoalInvalidArgument,
                   shoal::strprintf("rank %d: %s: %s is NULL with count %zu", rank, name,
                                    needSend && !sendbuff ? "sendbuff" : "recvbuff", count));
  }
  if (count > 0 && needSend && needRecv && sendbuff && recvbuff) {
    // Identical (or NCCL's offset form for reducescatter/allgather) is in
    // place; any other overlap would read data already overwritten.
    const char* s = static_cast<const char*>(sendbuff);
    const char* r = static_cast<const char*>(recvbuff);
    const size_t off = static_cast<size_t>(rank) * count * es;
    bool inPlace = s == r;
    if (kind == shoal::CollKind::kReduceScatter) inPlace = r == s + off;
    if (kind == shoal::CollKind::kAllGather) inPlace = s == r + off;
    if (!inPlace && s < r + recvBytes && r < s + sendBytes) {
      return invalid(
          comm, shoalInvalidArgument,
          shoal::strprintf("rank %d: %s: sendbuff and recvbuff overlap without being in place",
                           rank, name));
    }
  }
  // Where the buffers live decides how the call runs; both of a rank's
  // buffers must be on the same side.
  int sendDev = -1, recvDev = -1;
  if (count > 0 && needSend && sendbuff) shoal::cuda::pointerKind(sendbuff, &sendDev);
  if (count > 0 && needRecv && recvbuff) shoal::cuda::pointerKind(recvbuff, &recvDev);
  if (count > 0 && needSend && needRecv && sendDev != recvDev) {
    auto side = [](int d) {
      return d < 0 ? std::string("host memory") : shoal::strprintf("memory of GPU %d", d);
    };
    return invalid(comm, shoalInvalidUsage,
                   shoal::strprintf("rank %d: %s: sendbuff is %s but recvbuff is %s; both must "
                                    "be in the same place",
                                    rank, name, side(sendDev).c_str(), side(recvDev).c_str()));
  }
  const int device = sendDev >= 0 ? sendDev : recvDev;
  if (stream || device >= 0) {
    std::string why;
    if (!shoal::cuda::available(&why)) {
      return invalid(comm, shoalInvalidUsage,
                     shoal::strprintf("rank %d: %s: a CUDA stream was given but CUDA cannot be "
                                      "used here: %s",
                                      rank, name, why.c_str()));
    }
  }
  if (stream || device >= 0) {
    return guarded(comm, [&] {
      // One rank on GPU buffers needs no proxy (see commSingleRankOnStream);
      // host buffers with a stream still go through it.
      const bool single = n == 1 && device >= 0;
      if (!comm->streams && !single) comm->streams = std::make_unique<shoal::StreamProxy>(comm);
      // Without the proxy, calls it still holds run first (they share the
      // plan cache), so their failures are known before this call goes.
      if (single && comm->streams) {
        comm->streams->drain(shoal::Deadline::after(comm->timeoutSeconds));
      }
      std::string earlier;
      shoalResult_t r = comm->streams ? comm->streams->asyncError(&earlier) : shoalSuccess;
      if (r != shoalSuccess) {
        shoal::fail(r, "rank %d: %s: refused: an earlier stream-ordered call failed: %s", rank,
                    name, earlier.c_str());
      }
      if (single) {
        shoal::commSingleRankOnStream(comm, kind, sendbuff, recvbuff, count, datatype, op, root,
                                      device, stream);
        return;
      }
      comm->streams->enqueue(
          shoal::StreamCall{kind, sendbuff, recvbuff, count, datatype, op, root, device}, stream);
      // GPU buffers with no stream: the call also returns complete, so code
      // that reads the result with a plain cudaMemcpy (or on another stream)
      // sees it; the work still runs after what the default stream held.
      if (!stream) {
        comm->streams->drain(shoal::Deadline::after(comm->streams->gateSeconds()));
        r = comm->streams->asyncError(&earlier);
        if (r != shoalSuccess) shoal::fail(r, "%s", earlier.c_str());
      }
    });
  }
  return guarded(comm, [&] {
    // Host calls keep the program order behind stream-ordered ones.
    if (comm->streams) comm->streams->drain(shoal::Deadline::after(comm->timeoutSeconds));
    shoal::commCollective(comm, kind, sendbuff, recvbuff, count, datatype, op, root);
  });
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
  return comm && isLive(comm) ? comm->lastError.c_str() : tlsLastError.c_str();
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
    std::lock_guard<std::mutex> lock(liveMutex);
    liveComms.insert(*comm);
  });
}

shoalResult_t shoalCommInitFromEnv(shoalComm_t* comm) {
  if (!comm) return invalid(nullptr, shoalInvalidArgument, "shoalCommInitFromEnv: comm is NULL");
  *comm = nullptr;
  return guarded(nullptr, [&] {
    shoal::EnvInit env = shoal::resolveEnvInit();
    shoal::UniqueIdData d = shoal::createRootAt(env.rootHostPort, env.secretHex, env.rank == 0);
    *comm = shoal::commCreate(d, env.size, env.rank).release();
    std::lock_guard<std::mutex> lock(liveMutex);
    liveComms.insert(*comm);
  });
}

shoalResult_t shoalCommDestroy(shoalComm_t comm) {
  if (!comm) return invalid(nullptr, shoalInvalidArgument, "shoalCommDestroy: comm is NULL");
  shoalResult_t retired = retire(comm, "shoalCommDestroy");
  if (retired != shoalSuccess) return retired;
  return finish(comm);
}

shoalResult_t shoalCommAbort(shoalComm_t comm) {
  if (!comm) return invalid(nullptr, shoalInvalidArgument, "shoalCommAbort: comm is NULL");
  {
    // The flag first: a call stuck on another thread sees it and returns.
    std::lock_guard<std::mutex> lock(liveMutex);
    if (liveComms.count(comm) == 0) return notLive("shoalCommAbort");
    comm->aborted.store(true);
  }
  shoalResult_t retired = retire(comm, "shoalCommAbort");
  if (retired != shoalSuccess) return retired;
  return finish(comm);
}

shoalResult_t shoalCommSetTimeout(shoalComm_t comm, double seconds) {
  if (!comm) return invalid(nullptr, shoalInvalidArgument, "shoalCommSetTimeout: comm is NULL");
  if (!isLive(comm)) return notLive("shoalCommSetTimeout");
  if (!std::isfinite(seconds) || seconds <= 0) {
    return invalid(
        comm, shoalInvalidArgument,
        shoal::strprintf("shoalCommSetTimeout: %g seconds: must be positive and finite", seconds));
  }
  shoalResult_t claimed = claim(comm, "shoalCommSetTimeout");
  if (claimed != shoalSuccess) return claimed;
  comm->timeoutSeconds = seconds;
  comm->inCall.store(false, std::memory_order_release);
  return shoalSuccess;
}

shoalResult_t shoalCommGetAsyncError(shoalComm_t comm, shoalResult_t* asyncError) {
  if (!comm || !asyncError) {
    return invalid(nullptr, shoalInvalidArgument,
                   "shoalCommGetAsyncError: comm or asyncError is NULL");
  }
  if (!isLive(comm)) return notLive("shoalCommGetAsyncError");
  *asyncError = shoalSuccess;
  if (!comm->streams) return shoalSuccess;
  std::string text;
  *asyncError = comm->streams->asyncError(&text);
  if (*asyncError != shoalSuccess) comm->lastError = text;
  return shoalSuccess;
}

shoalResult_t shoalCommCount(const shoalComm_t comm, int* count) {
  if (!comm || !count)
    return invalid(nullptr, shoalInvalidArgument, "shoalCommCount: comm or count is NULL");
  if (!isLive(comm)) return notLive("shoalCommCount");
  *count = comm->size;
  return shoalSuccess;
}

shoalResult_t shoalCommUserRank(const shoalComm_t comm, int* rank) {
  if (!comm || !rank)
    return invalid(nullptr, shoalInvalidArgument, "shoalCommUserRank: comm or rank is NULL");
  if (!isLive(comm)) return notLive("shoalCommUserRank");
  *rank = comm->rank;
  return shoalSuccess;
}

shoalResult_t shoalAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                             shoalDataType_t datatype, shoalRedOp_t op, shoalComm_t comm,
                             shoalStream_t stream) {
  return collective(shoal::CollKind::kAllReduce, sendbuff, recvbuff, count, rawEnum(datatype),
                    rawEnum(op), 0, comm, stream);
}

shoalResult_t shoalReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                 shoalDataType_t datatype, shoalRedOp_t op, shoalComm_t comm,
                                 shoalStream_t stream) {
  return collective(shoal::CollKind::kReduceScatter, sendbuff, recvbuff, recvcount,
                    rawEnum(datatype), rawEnum(op), 0, comm, stream);
}

shoalResult_t shoalAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                             shoalDataType_t datatype, shoalComm_t comm, shoalStream_t stream) {
  return collective(shoal::CollKind::kAllGather, sendbuff, recvbuff, sendcount, rawEnum(datatype),
                    shoalSum, 0, comm, stream);
}

shoalResult_t shoalBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                             shoalDataType_t datatype, int root, shoalComm_t comm,
                             shoalStream_t stream) {
  return collective(shoal::CollKind::kBroadcast, sendbuff, recvbuff, count, rawEnum(datatype),
                    shoalSum, root, comm, stream);
}

shoalResult_t shoalReduce(const void* sendbuff, void* recvbuff, size_t count,
                          shoalDataType_t datatype, shoalRedOp_t op, int root, shoalComm_t comm,
                          shoalStream_t stream) {
  return collective(shoal::CollKind::kReduce, sendbuff, recvbuff, count, rawEnum(datatype),
                    rawEnum(op), root, comm, stream);
}

shoalResult_t shoalBarrier(shoalComm_t comm, shoalStream_t stream) {
  return collective(shoal::CollKind::kBarrier, nullptr, nullptr, 0, shoalInt8, shoalSum, 0, comm,
                    stream);
}

const char* shoalCommLastAlgorithm(shoalComm_t comm) {
  return comm && isLive(comm) ? comm->lastAlgorithm.c_str() : "none";
}

const char* shoalCommTransportName(shoalComm_t comm) {
  return comm && isLive(comm) && comm->transport ? comm->transport->name() : "none";
}

}  // extern "C"
