// The parameter server's C API: argument checks, then the node; no exception
// crosses this file.
#include <cstring>
#include <string>
#include <thread>

#include "core/bootstrap.h"
#include "core/bootstrap_root.h"
#include "core/error.h"
#include "core/log.h"
#include "core/reduce.h"
#include "core/socket.h"
#include "ps/node.h"
#include "ps/ps_env.h"
#include "shoal/ps.h"

namespace {

thread_local std::string tlsLastError;

shoalResult_t record(shoalPs_t ps, shoalResult_t code, const std::string& msg) {
  tlsLastError = msg;
  if (ps) {
    std::lock_guard<std::mutex> g(ps->mu);
    ps->lastError = msg;
  }
  return code;
}

template <class Fn>
shoalResult_t guarded(shoalPs_t ps, Fn&& fn) {
  try {
    fn();
    return shoalSuccess;
  } catch (const shoal::Error& e) {
    return record(ps, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return record(ps, shoalSystemError, "out of memory");
  } catch (const std::exception& e) {
    return record(ps, shoalInternalError, std::string("internal error: ") + e.what());
  } catch (...) {
    return record(ps, shoalInternalError, "internal error: unknown exception");
  }
}

shoalResult_t invalid(shoalPs_t ps, shoalResult_t code, const std::string& msg) {
  SHOAL_WARN(PS, "%s", msg.c_str());
  return record(ps, code, msg);
}

// The dtype a caller stored, read without loading it as the enum: any int
// may arrive through the C ABI, and loading one that names no enumerator is
// undefined behaviour (UBSan reports it), as in the collectives' C API.
int rawDtype(const shoalDataType_t& t) {
  int v;
  memcpy(&v, &t, sizeof(v));
  return v;
}

shoalResult_t submit(shoalPs_t ps, shoal::ps::OpKind kind, uint64_t key, const void* src, void* dst,
                     size_t count, int rawType, shoalPsHandle_t* handle) {
  const char* name = shoal::ps::opName(kind);
  if (!ps)
    return invalid(nullptr, shoalInvalidArgument, shoal::strprintf("ps %s: ps is NULL", name));
  if (!handle) {
    return invalid(ps, shoalInvalidArgument,
                   shoal::strprintf("rank %d: ps %s: handle is NULL", ps->rank, name));
  }
  *handle = 0;
  if (!shoal::validDtype(rawType)) {
    return invalid(
        ps, shoalInvalidArgument,
        shoal::strprintf("rank %d: ps %s: invalid datatype %d", ps->rank, name, rawType));
  }
  const auto dtype = static_cast<shoalDataType_t>(rawType);
  if (count > static_cast<size_t>(PTRDIFF_MAX) / shoal::dtypeSize(dtype)) {
    return invalid(ps, shoalInvalidArgument,
                   shoal::strprintf("rank %d: ps %s: count %zu overflows the address space",
                                    ps->rank, name, count));
  }
  bool needSrc = kind != shoal::ps::OpKind::kPull;
  bool needDst = kind != shoal::ps::OpKind::kPush;
  if (count > 0 && ((needSrc && !src) || (needDst && !dst))) {
    return invalid(ps, shoalInvalidArgument,
                   shoal::strprintf("rank %d: ps %s key %llu: %s is NULL with count %zu", ps->rank,
                                    name, static_cast<unsigned long long>(key),
                                    needSrc && !src ? "data" : "out", count));
  }
  if (count > 0 && needSrc && needDst) {
    size_t bytes = count * shoal::dtypeSize(dtype);
    auto s = reinterpret_cast<uintptr_t>(src), d = reinterpret_cast<uintptr_t>(dst);
    if (s < d + bytes && d < s + bytes) {
      return invalid(ps, shoalInvalidArgument,
                     shoal::strprintf("rank %d: ps push_pull key %llu: grad and out overlap (the "
                                      "answer may land while the push still reads)",
                                      ps->rank, static_cast<unsigned long long>(key)));
    }
  }
  return guarded(ps, [&] {
    shoal::ps::Request r;
    r.kind = kind;
    r.key = key;
    r.src = src;
    r.dst = dst;
    r.count = count;
    r.dtype = dtype;
    *handle = shoal::ps::nodeSubmit(ps, std::move(r));
  });
}

// ps-lite's scheduler: hosts the rendezvous root until every rank has joined.
void hostScheduler(const shoal::ps::PsEnv& e) {
  shoal::net::SockAddr addr = shoal::net::resolveHostPort(e.rootHostPort, "DMLC_PS_ROOT_URI");
  uint8_t secret[32];
  shoal::bootstrap::secretFromText(e.secretHex, secret);
  shoal::bootstrap::RootOptions opts;
  opts.deadline = shoal::Deadline::fromConfig();
  auto stats = std::make_shared<shoal::bootstrap::RootStats>();
  shoal::bootstrap::startRoot(addr, secret, opts, stats);
  while (!stats->finished.load()) {
    if (opts.deadline.expired()) {
      shoal::fail(shoalTimeout, "ps scheduler: the ranks did not all join %s before SHOAL_TIMEOUT",
                  e.rootHostPort.c_str());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!stats->succeeded.load()) {
    shoal::fail(shoalRemoteError, "ps scheduler: the rendezvous at %s failed (see the ranks' logs)",
                e.rootHostPort.c_str());
  }
}

}  // namespace

extern "C" {

shoalResult_t shoalPsOptionsFromEnv(shoalPsOptions* options) {
  if (!options)
    return invalid(nullptr, shoalInvalidArgument, "shoalPsOptionsFromEnv: options is NULL");
  return guarded(nullptr, [&] { *options = shoal::ps::optionsFromEnv(); });
}

shoalResult_t shoalPsInitRank(shoalPs_t* ps, int nranks, shoalUniqueId id, int rank, int roles,
                              const shoalPsOptions* options) {
  if (!ps) return invalid(nullptr, shoalInvalidArgument, "shoalPsInitRank: ps is NULL");
  *ps = nullptr;
  return guarded(nullptr, [&] {
    shoalPsOptions o = options ? *options : shoal::ps::optionsFromEnv();
    shoal::UniqueIdData d;
    memcpy(&d, id.internal, sizeof(d));
    *ps = shoal::ps::nodeCreate(d, nranks, rank, roles, o).release();
  });
}

shoalResult_t shoalPsInitFromEnv(shoalPs_t* ps) {
  if (!ps) return invalid(nullptr, shoalInvalidArgument, "shoalPsInitFromEnv: ps is NULL");
  *ps = nullptr;
  return guarded(nullptr, [&] {
    shoalPsOptions o = shoal::ps::optionsFromEnv();
    shoal::ps::PsEnv e = shoal::ps::resolvePsEnv();
    if (e.roles == 0) {
      hostScheduler(e);
      auto s = std::make_unique<shoalPs>();
      s->options = o;
      *ps = s.release();
      return;
    }
    shoal::UniqueIdData d = shoal::createRootAt(e.rootHostPort, e.secretHex, e.listen);
    *ps = shoal::ps::nodeCreate(d, e.size, e.rank, e.roles, o).release();
  });
}

shoalResult_t shoalPsRoles(shoalPs_t ps, int* roles) {
  if (!ps || !roles) return invalid(ps, shoalInvalidArgument, "shoalPsRoles: ps or roles is NULL");
  *roles = ps->roles;
  return shoalSuccess;
}

shoalResult_t shoalPsWorkerIndex(shoalPs_t ps, int* index, int* numWorkers) {
  if (!ps || !index || !numWorkers)
    return invalid(ps, shoalInvalidArgument, "shoalPsWorkerIndex: an argument is NULL");
  *index = ps->workerIndex;
  *numWorkers = ps->numWorkers;
  return shoalSuccess;
}

shoalResult_t shoalPsServerIndex(shoalPs_t ps, int* index, int* numServers) {
  if (!ps || !index || !numServers)
    return invalid(ps, shoalInvalidArgument, "shoalPsServerIndex: an argument is NULL");
  *index = ps->serverIndex;
  *numServers = ps->numServers;
  return shoalSuccess;
}

shoalResult_t shoalPsPush(shoalPs_t ps, uint64_t key, const void* data, size_t count,
                          shoalDataType_t dtype, shoalPsHandle_t* handle) {
  return submit(ps, shoal::ps::OpKind::kPush, key, data, nullptr, count, rawDtype(dtype), handle);
}

shoalResult_t shoalPsPull(shoalPs_t ps, uint64_t key, void* out, size_t count,
                          shoalDataType_t dtype, shoalPsHandle_t* handle) {
  return submit(ps, shoal::ps::OpKind::kPull, key, nullptr, out, count, rawDtype(dtype), handle);
}

shoalResult_t shoalPsPushPull(shoalPs_t ps, uint64_t key, const void* grad, void* out, size_t count,
                              shoalDataType_t dtype, shoalPsHandle_t* handle) {
  return submit(ps, shoal::ps::OpKind::kPushPull, key, grad, out, count, rawDtype(dtype), handle);
}

shoalResult_t shoalPsWait(shoalPs_t ps, shoalPsHandle_t handle, uint64_t* version) {
  if (!ps) return invalid(nullptr, shoalInvalidArgument, "shoalPsWait: ps is NULL");
  return guarded(ps, [&] {
    uint64_t v = shoal::ps::nodeWait(ps, handle);
    if (version) *version = v;
  });
}

shoalResult_t shoalPsRegisterBuffer(shoalPs_t ps, void* ptr, size_t bytes) {
  if (!ps || !ptr || bytes == 0)
    return invalid(ps, shoalInvalidArgument,
                   "shoalPsRegisterBuffer: ps or ptr is NULL, or bytes is 0");
  return guarded(ps, [&] {
    shoal::ps::Request r;
    r.kind = shoal::ps::OpKind::kRegister;
    r.dst = ptr;
    r.count = bytes;
    shoal::ps::nodeWait(ps, shoal::ps::nodeSubmit(ps, std::move(r)));
  });
}

shoalResult_t shoalPsDeregisterBuffer(shoalPs_t ps, void* ptr) {
  if (!ps || !ptr)
    return invalid(ps, shoalInvalidArgument, "shoalPsDeregisterBuffer: ps or ptr is NULL");
  return guarded(ps, [&] {
    shoal::ps::Request r;
    r.kind = shoal::ps::OpKind::kDeregister;
    r.dst = ptr;
    shoal::ps::nodeWait(ps, shoal::ps::nodeSubmit(ps, std::move(r)));
  });
}

shoalResult_t shoalPsGetServerStats(shoalPs_t ps, shoalPsServerStats* stats) {
  if (!ps || !stats)
    return invalid(ps, shoalInvalidArgument, "shoalPsGetServerStats: an argument is NULL");
  std::lock_guard<std::mutex> g(ps->mu);
  *stats = ps->stats;
  return shoalSuccess;
}

const char* shoalPsGetLastError(shoalPs_t ps) {
  if (!ps) return tlsLastError.c_str();
  std::lock_guard<std::mutex> g(ps->mu);
  return ps->lastError.c_str();
}

shoalResult_t shoalPsFinalize(shoalPs_t ps) {
  if (!ps) return invalid(nullptr, shoalInvalidArgument, "shoalPsFinalize: ps is NULL");
  shoalResult_t r = guarded(nullptr, [&] { shoal::ps::nodeFinalize(ps); });
  delete ps;
  return r;
}

}  // extern "C"
