/* shoal: RDMA-native collective communication.
 *
 * The C API mirrors NCCL's names with the prefix `shoal`, so a program that
 * uses NCCL can switch by renaming. Every function returns a shoalResult_t and
 * never lets a C++ exception escape. Host buffers are used with stream == NULL.
 */
#ifndef SHOAL_SHOAL_H
#define SHOAL_SHOAL_H

#include <stddef.h>
#include <stdint.h>

#include "shoal/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  shoalSuccess = 0,
  shoalUnhandledCudaError = 1, /* kept for NCCL numbering */
  shoalSystemError = 2,        /* unhandled system error */
  shoalInternalError = 3,
  shoalInvalidArgument = 4,
  shoalInvalidUsage = 5,
  shoalRemoteError = 6,
  shoalInProgress = 7,
  shoalTimeout = 8,
  shoalNumResults = 9
} shoalResult_t;

typedef enum {
  shoalInt8 = 0,
  shoalChar = 0,
  shoalUint8 = 1,
  shoalInt32 = 2,
  shoalInt = 2,
  shoalUint32 = 3,
  shoalInt64 = 4,
  shoalUint64 = 5,
  shoalFloat16 = 6,
  shoalHalf = 6,
  shoalFloat32 = 7,
  shoalFloat = 7,
  shoalFloat64 = 8,
  shoalDouble = 8,
  shoalBfloat16 = 9,
  shoalNumTypes = 10
} shoalDataType_t;

typedef enum {
  shoalSum = 0,
  shoalProd = 1,
  shoalMax = 2,
  shoalMin = 3,
  shoalAvg = 4,
  shoalNumOps = 5
} shoalRedOp_t;

/* Opaque communicator handle. */
typedef struct shoalComm* shoalComm_t;

#define SHOAL_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[SHOAL_UNIQUE_ID_BYTES];
} shoalUniqueId;

/* Stream type: a cudaStream_t.
 * Buffers may be host memory or GPU memory (cudaMalloc, or managed); send and
 * recv must be on the same side. With NULL stream and host buffers a call is
 * synchronous: it returns when the result is in recvbuff. With a stream, or
 * with GPU buffers (NULL then means the legacy default stream), a call is
 * stream-ordered as in NCCL: it returns once enqueued, starts when the work
 * queued before it on the stream is done, and work queued after it waits for
 * it; with GPU buffers and a NULL stream it also returns only once complete.
 * The reduction then runs on the GPU (CUDA kernels). Failures of such a
 * call are reported by shoalCommGetAsyncError and by the next call on comm;
 * the stream never waits forever (at most twice the communicator's timeout). */
typedef void* shoalStream_t;

/* Errors. Every call checks its arguments before any communication and
 * returns (with shoalGetLastError naming the call, the rank and the argument):
 *   shoalInvalidArgument  a required pointer is NULL (comm, the out-pointer of
 *                         an init/query call; sendbuff/recvbuff with count > 0
 *                         where the rank uses them: broadcast's sendbuff and
 *                         reduce's recvbuff only on the root); datatype or op
 *                         outside the enums; root outside [0, nranks);
 *                         count * sizeof(datatype) (times nranks for the
 *                         n-block buffer of reducescatter/allgather) larger
 *                         than PTRDIFF_MAX; sendbuff and recvbuff overlapping
 *                         without being identical (or NCCL's offset in-place
 *                         form for reducescatter/allgather); nranks < 1 or
 *                         rank outside [0, nranks) at init; a unique id that
 *                         shoalGetUniqueId did not produce.
 *   shoalInvalidUsage     a stream or GPU buffers where CUDA cannot be used
 *                         (a build without CUDA, no driver, no GPU); send
 *                         and recv buffers on different sides (one on the
 *                         GPU, one on the host) or different GPUs; a comm that is not
 *                         live: already destroyed or aborted (detected until
 *                         1024 later communicators were destroyed, after
 *                         which a new one may be given the same address),
 *                         or never returned by an init; a second thread
 *                         calling into a comm while a call runs there;
 *                         ranks calling different collectives, counts, types,
 *                         ops, roots or algorithms (both calls named); a
 *                         collective on a comm broken by an earlier error
 *                         (destroy or abort it); a collective ended by
 *                         shoalCommAbort.
 *   shoalRemoteError      a peer died, closed its connections or sent a
 *                         malformed message; names that rank.
 *   shoalTimeout          the deadline passed (SHOAL_TIMEOUT or
 *                         shoalCommSetTimeout); names the ranks waited for.
 * A refused argument leaves the communicator usable; any error during a
 * collective breaks it. */

shoalResult_t shoalGetVersion(int* version);
const char* shoalGetErrorString(shoalResult_t result);
/* Last error message recorded on comm (or for the calling thread when comm is
 * NULL). The string stays valid until the next call on the same comm. */
const char* shoalGetLastError(shoalComm_t comm);

/* Creates a rendezvous root in this process and fills *uniqueId with its
 * address and a random secret. Call once, then share the id with every rank. */
shoalResult_t shoalGetUniqueId(shoalUniqueId* uniqueId);
shoalResult_t shoalCommInitRank(shoalComm_t* comm, int nranks, shoalUniqueId commId, int rank);
/* Reads rank, world size and root from SHOAL_*, torchrun, Open MPI or Slurm
 * variables (see shoal-info for the list). */
shoalResult_t shoalCommInitFromEnv(shoalComm_t* comm);
shoalResult_t shoalCommDestroy(shoalComm_t comm);
/* Ends comm at once: a collective stuck on another thread of this process
 * returns shoalInvalidUsage ("aborted by shoalCommAbort", naming the ranks it
 * was waiting for) within about 100 ms, then comm is freed. Peers are not
 * waited for; they see this rank leave. */
shoalResult_t shoalCommAbort(shoalComm_t comm);
/* Deadline in seconds for each later collective and the destroy barrier on
 * comm (default SHOAL_TIMEOUT). A collective past it returns shoalTimeout
 * naming the operation, its sequence number, the algorithm and the ranks it
 * was still waiting for. shoalInvalidArgument unless 0 < seconds < inf. */
shoalResult_t shoalCommSetTimeout(shoalComm_t comm, double seconds);
/* The first failure of a stream-ordered call on comm (shoalSuccess if none;
 * the message is in shoalGetLastError(comm)). Does not wait for queued calls. */
shoalResult_t shoalCommGetAsyncError(shoalComm_t comm, shoalResult_t* asyncError);
shoalResult_t shoalCommCount(const shoalComm_t comm, int* count);
shoalResult_t shoalCommUserRank(const shoalComm_t comm, int* rank);

shoalResult_t shoalAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                             shoalDataType_t datatype, shoalRedOp_t op, shoalComm_t comm,
                             shoalStream_t stream);

/* NCCL's conventions: reducescatter reads nranks*recvcount elements and
 * writes recvcount (in place when recvbuff == sendbuff + rank*recvcount);
 * allgather reads sendcount and writes nranks*sendcount (in place when
 * sendbuff == recvbuff + rank*sendcount). */
shoalResult_t shoalReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                 shoalDataType_t datatype, shoalRedOp_t op, shoalComm_t comm,
                                 shoalStream_t stream);
shoalResult_t shoalAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                             shoalDataType_t datatype, shoalComm_t comm, shoalStream_t stream);
/* sendbuff matters on the root only; in place when sendbuff == recvbuff. */
shoalResult_t shoalBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                             shoalDataType_t datatype, int root, shoalComm_t comm,
                             shoalStream_t stream);
/* recvbuff matters on the root only. */
shoalResult_t shoalReduce(const void* sendbuff, void* recvbuff, size_t count,
                          shoalDataType_t datatype, shoalRedOp_t op, int root, shoalComm_t comm,
                          shoalStream_t stream);
/* Returns once every rank has entered the barrier. */
shoalResult_t shoalBarrier(shoalComm_t comm, shoalStream_t stream);

/* Name of the algorithm and transport the last collective on comm used. */
const char* shoalCommLastAlgorithm(shoalComm_t comm);
const char* shoalCommTransportName(shoalComm_t comm);

#ifdef __cplusplus
}
#endif

#endif /* SHOAL_SHOAL_H */
