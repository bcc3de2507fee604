/* shoal parameter server: push/pull of keyed tensors between workers and
 * servers over shoal's transports (shm, UCX, verbs).
 *
 * A job is nranks processes started like a communicator (shoalGetUniqueId +
 * shoalPsInitRank, or shoalPsInitFromEnv); each is a worker, a server or both.
 * A key (64 bits) names a tensor; its bytes are cut into partitions of
 * SHOAL_PS_PARTITION_BYTES placed on the servers by a stable hash, and each
 * server owns the values of its partitions. Workers push gradients and pull
 * values; every call returns at once with a handle that shoalPsWait completes.
 * Buffers are used in place (zero-copy): a push is a one-sided write from the
 * caller's memory into the server, a pull's answer is written by the server
 * straight into the caller's memory. Neither buffer may be touched until the
 * handle is waited for. Memory used for pulls stays registered until
 * shoalPsDeregisterBuffer or shoalPsFinalize; free it only after one of them.
 *
 * Consistency (SHOAL_PS_MODE or shoalPsOptions.mode):
 *   sync   a round of a partition completes when every live worker pushed it;
 *          a pull issued after a worker's r-th push returns round r, version r.
 *   async  each push is applied when it arrives; version counts applied pushes.
 *   ssp    async, but a worker more than `staleness` pushes ahead of the
 *          slowest live worker is held until that one catches up.
 * Update rule (SHOAL_PS_UPDATE): sum (sync: the round's sum; async/ssp: every
 * push is added), sgd (value -= lr * g) or momentum (m = mu*m + g;
 * value -= lr * m); g is the round's sum in sync mode, one push otherwise.
 * Values start at zero. sgd and momentum need float32 or float64.
 *
 * GPU memory (CUDA builds): every worker call takes device pointers (and
 * managed memory) for data, out and grad, alone or mixed with host memory.
 * They are staged through pinned host buffers the worker keeps and reuses: a
 * push copies its partitions out on the worker's own CUDA stream, each one
 * sent as soon as it is copied (unless the transport reads GPU memory itself,
 * GPUDirect RDMA: then the push is sent from the device buffer); a pull lands
 * in pinned memory and each partition is copied into the device buffer as it
 * arrives. The calls take no stream and stay
 * synchronous with respect to the caller's GPU work: the device data must be
 * complete when the call is made (synchronize the stream that produced it
 * first), and shoalPsWait returns only once the pulled values are in the
 * device buffer, so work enqueued afterwards on any stream sees them.
 * shoalPsRegisterBuffer/DeregisterBuffer accept device pointers and do
 * nothing with them. Servers keep their partitions in host memory unless
 * SHOAL_PS_SERVER_DEVICE=cuda: then values, round sums and optimizer state
 * live in the memory of GPU (local rank % GPU count), the update kernels read
 * pushes straight from the pinned receive slots, and pulls are answered from
 * a pinned copy of the value (from the device memory itself where the
 * transport reads GPU memory); results are bit-for-bit those of a CPU server
 * (sum for every type, NaN results included except a NaN plus a NaN, whose
 * payload x86 takes from either; sgd and momentum evaluate the same
 * expressions with no fused multiply-add). The GPU may be shared: every
 * server and worker process of a host may use the same one.
 *
 * Example (each process; error checks left out):
 *
 *   shoalPs_t ps;
 *   shoalPsInitFromEnv(&ps);      // SHOAL_ROLE=worker|server|both, SHOAL_RANK...
 *   int roles;
 *   shoalPsRoles(ps, &roles);
 *   if (roles & shoalPsRoleWorker) {
 *     float grad[1000], weights[1000];
 *     shoalPsHandle_t h;
 *     uint64_t version;
 *     for (int step = 0; step < 10; ++step) {
 *       compute_gradient(weights, grad);
 *       shoalPsPushPull(ps, 42, grad, weights, 1000, shoalFloat32, &h);
 *       shoalPsWait(ps, h, &version);   // weights now hold round `version`
 *     }
 *   }
 *   shoalPsFinalize(ps);          // servers serve until every worker finalized
 */
#ifndef SHOAL_PS_H
#define SHOAL_PS_H

#include <stddef.h>
#include <stdint.h>

#include "shoal/shoal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shoalPs* shoalPs_t;
typedef uint64_t shoalPsHandle_t;

typedef enum { shoalPsRoleWorker = 1, shoalPsRoleServer = 2, shoalPsRoleBoth = 3 } shoalPsRole_t;

typedef enum { shoalPsSync = 0, shoalPsAsync = 1, shoalPsBoundedStaleness = 2 } shoalPsMode_t;

typedef enum {
  shoalPsUpdateSum = 0,
  shoalPsUpdateSgd = 1,
  shoalPsUpdateMomentum = 2
} shoalPsUpdate_t;

/* Must be equal on every rank (checked at init). */
typedef struct {
  shoalPsMode_t mode;
  int staleness; /* ssp only */
  shoalPsUpdate_t update;
  double learningRate;
  double momentum;
  size_t partitionBytes;
  double timeoutSeconds; /* deadline of init, of each operation, of finalize */
} shoalPsOptions;

/* Server counters (zero on a rank that is no server). maxLead is the largest
 * lead of one worker over the slowest live one ever accepted (ssp keeps it
 * within staleness). */
typedef struct {
  uint64_t pushesAccepted;
  uint64_t pullsServed;
  uint64_t roundsCompleted; /* sync rounds, or applied pushes in async modes */
  int maxLead;
  int deadWorkers;
} shoalPsServerStats;

/* Defaults overridden by the SHOAL_PS_* variables (and SHOAL_TIMEOUT). */
shoalResult_t shoalPsOptionsFromEnv(shoalPsOptions* options);

/* roles: a mask of shoalPsRole_t; every rank must have one, and the job needs
 * at least one worker and one server. options NULL: shoalPsOptionsFromEnv. */
shoalResult_t shoalPsInitRank(shoalPs_t* ps, int nranks, shoalUniqueId id, int rank, int roles,
                              const shoalPsOptions* options);
/* Role from SHOAL_ROLE (worker, server, both) with SHOAL_RANK/SHOAL_WORLD_SIZE/
 * SHOAL_ROOT as for shoalCommInitFromEnv; or ps-lite's DMLC_ROLE, DMLC_NUM_WORKER,
 * DMLC_NUM_SERVER, DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT with DMLC_WORKER_ID /
 * DMLC_SERVER_ID (or SHOAL_RANK) giving the rank: workers are ranks
 * 0..W-1, servers W..W+S-1. DMLC_ROLE=scheduler hosts the rendezvous and
 * returns a handle with no role once every rank has joined. */
shoalResult_t shoalPsInitFromEnv(shoalPs_t* ps);

shoalResult_t shoalPsRoles(shoalPs_t ps, int* roles);
/* This rank's index among the workers / servers (-1 when it is none). */
shoalResult_t shoalPsWorkerIndex(shoalPs_t ps, int* index, int* numWorkers);
shoalResult_t shoalPsServerIndex(shoalPs_t ps, int* index, int* numServers);

/* Worker calls. count elements of dtype; a key keeps the count and type of its
 * first use. The handle is complete after shoalPsWait. */
shoalResult_t shoalPsPush(shoalPs_t ps, uint64_t key, const void* data, size_t count,
                          shoalDataType_t dtype, shoalPsHandle_t* handle);
shoalResult_t shoalPsPull(shoalPs_t ps, uint64_t key, void* out, size_t count,
                          shoalDataType_t dtype, shoalPsHandle_t* handle);
shoalResult_t shoalPsPushPull(shoalPs_t ps, uint64_t key, const void* grad, void* out, size_t count,
                              shoalDataType_t dtype, shoalPsHandle_t* handle);
/* Blocks until the operation finished or failed (shoalRemoteError naming the
 * failed rank, shoalTimeout). version (may be NULL): the value's version a
 * pull returned, or the round a push joined. */
shoalResult_t shoalPsWait(shoalPs_t ps, shoalPsHandle_t handle, uint64_t* version);

/* Registers memory for pulls ahead of time (optional: pulls register on first
 * use). Deregister only while no operation uses the memory. */
shoalResult_t shoalPsRegisterBuffer(shoalPs_t ps, void* ptr, size_t bytes);
shoalResult_t shoalPsDeregisterBuffer(shoalPs_t ps, void* ptr);

shoalResult_t shoalPsGetServerStats(shoalPs_t ps, shoalPsServerStats* stats);
const char* shoalPsGetLastError(shoalPs_t ps);

/* Workers: waits for their operations, then leaves. Servers: serve until every
 * worker left or died. Frees ps. */
shoalResult_t shoalPsFinalize(shoalPs_t ps);

#ifdef __cplusplus
}
#endif

#endif /* SHOAL_PS_H */
