/* A rank of a job started by a launcher (shoalrun, mpirun, ...): uses only
 * the public C API, checks every element of two all-reduces against values
 * it computes itself, and has rank 0 print one checksum line so the tests can
 * show that different launchers produce the same result. */
#include <shoal/shoal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                          \
  do {                                                                                       \
    shoalResult_t rc_ = (call);                                                              \
    if (rc_ != shoalSuccess) {                                                               \
      fprintf(stderr, "launch_allreduce: %s failed: %s: %s\n", #call,                        \
              shoalGetErrorString(rc_), shoalGetLastError(NULL));                            \
      exit(1);                                                                               \
    }                                                                                        \
  } while (0)

static int32_t input(int rank, size_t i) {
  return (int32_t)((i * 2654435761u + (uint32_t)rank * 40503u) % 1000003u) - 500000;
}

static uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const unsigned char* p = (const unsigned char*)data;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

int main(void) {
  shoalComm_t comm;
  CHECK(shoalCommInitFromEnv(&comm));
  int rank, size;
  CHECK(shoalCommUserRank(comm, &rank));
  CHECK(shoalCommCount(comm, &size));

  const size_t count = 262147; /* not a multiple of anything convenient */
  int32_t* send = malloc(count * sizeof(int32_t));
  int32_t* recv = malloc(count * sizeof(int32_t));
  if (!send || !recv) return 1;
  uint64_t sum = 0xcbf29ce484222325ull;
  const shoalRedOp_t ops[2] = {shoalSum, shoalMax};
  for (int o = 0; o < 2; ++o) {
    for (size_t i = 0; i < count; ++i) {
      send[i] = input(rank, i);
      recv[i] = -7;
    }
    CHECK(shoalAllReduce(send, recv, count, shoalInt32, ops[o], comm, NULL));
    for (size_t i = 0; i < count; ++i) {
      int32_t want = ops[o] == shoalSum ? 0 : INT32_MIN;
      for (int r = 0; r < size; ++r) {
        int32_t v = input(r, i);
        if (ops[o] == shoalSum) {
          want = (int32_t)((uint32_t)want + (uint32_t)v);
        } else if (v > want) {
          want = v;
        }
      }
      if (recv[i] != want) {
        fprintf(stderr, "launch_allreduce: rank %d: %s element %zu is %d, expected %d\n", rank,
                o == 0 ? "sum" : "max", i, recv[i], want);
        return 1;
      }
    }
    sum = fnv1a(sum, recv, count * sizeof(int32_t));
  }
  if (rank == 0) {
    printf("launch_allreduce: ranks=%d count=%zu checksum=%016llx transport=%s\n", size, count,
           (unsigned long long)sum, shoalCommTransportName(comm));
  }
  free(send);
  free(recv);
  CHECK(shoalCommDestroy(comm));
  return 0;
}
