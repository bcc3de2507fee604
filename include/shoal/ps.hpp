// shoal parameter server, C++: a header-only layer over shoal/ps.h.
//
// Errors become shoal::Exception; a ParameterServer is a move-only RAII handle
// whose destructor finalizes; element types map to shoalDataType_t at compile
// time. Buffers are used in place until the handle is waited for. Spans may
// view GPU memory (std::span<float>(devicePtr, n)); see shoal/ps.h for how it
// is staged and when its data must be ready.
//
//   shoal::ps::ParameterServer ps(id, nranks, rank, shoal::ps::Role::Worker);
//   std::vector<float> grad(n), weights(n);
//   auto h = ps.pushPull(7, grad, weights);   // key 7
//   uint64_t version = ps.wait(h);            // weights hold that version
//   ps.finalize();
#ifndef SHOAL_PS_HPP
#define SHOAL_PS_HPP

#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "shoal/ps.h"
#include "shoal/shoal.hpp"

namespace shoal::ps {

enum class Role : int {
  Worker = shoalPsRoleWorker,
  Server = shoalPsRoleServer,
  Both = shoalPsRoleBoth,
};

using Options = shoalPsOptions;
using ServerStats = shoalPsServerStats;

namespace detail {
[[noreturn]] inline void throwPs(shoalResult_t code, shoalPs_t ps, const char* call) {
  const char* last = shoalPsGetLastError(ps);
  if ((last == nullptr || *last == '\0') && ps != nullptr) last = shoalPsGetLastError(nullptr);
  std::string message = last != nullptr && *last != '\0'
                            ? std::string(last)
                            : std::string(call) + " failed: " + std::string(errorString(code));
  throw Exception(code, message);
}
inline void check(shoalResult_t code, shoalPs_t ps, const char* call) {
  if (code != shoalSuccess) throwPs(code, ps, call);
}
}  // namespace detail

// Defaults overridden by the SHOAL_PS_* variables.
inline Options optionsFromEnv() {
  Options o{};
  detail::check(shoalPsOptionsFromEnv(&o), nullptr, "shoalPsOptionsFromEnv");
  return o;
}

// An operation in flight; wait() for it exactly once.
struct Handle {
  shoalPsHandle_t value = 0;
};

class ParameterServer {
 public:
  ParameterServer() noexcept = default;
  ParameterServer(const UniqueId& id, int nranks, int rank, Role role,
                  const Options* options = nullptr) {
    detail::check(shoalPsInitRank(&ps_, nranks, id.raw(), rank, static_cast<int>(role), options),
                  nullptr, "shoalPsInitRank");
  }
  // SHOAL_ROLE (or DMLC_ROLE) and the launch variables.
  static ParameterServer fromEnv() {
    ParameterServer p;
    detail::check(shoalPsInitFromEnv(&p.ps_), nullptr, "shoalPsInitFromEnv");
    return p;
  }

  ParameterServer(const ParameterServer&) = delete;
  ParameterServer& operator=(const ParameterServer&) = delete;
  ParameterServer(ParameterServer&& o) noexcept : ps_(std::exchange(o.ps_, nullptr)) {}
  ParameterServer& operator=(ParameterServer&& o) noexcept {
    if (this != &o) {
      if (ps_) shoalPsFinalize(ps_);
      ps_ = std::exchange(o.ps_, nullptr);
    }
    return *this;
  }
  // Finalizing may fail (a peer died); a destructor cannot report that.
  ~ParameterServer() {
    if (ps_) shoalPsFinalize(ps_);
  }

  // Workers leave; servers serve until every worker left. The handle is
  // empty afterwards.
  void finalize() {
    shoalPs_t ps = handle("finalize");
    ps_ = nullptr;
    detail::check(shoalPsFinalize(ps), nullptr, "shoalPsFinalize");
  }

  bool isWorker() const { return roles() & shoalPsRoleWorker; }
  bool isServer() const { return roles() & shoalPsRoleServer; }
  int roles() const {
    int r = 0;
    detail::check(shoalPsRoles(handle("roles"), &r), ps_, "shoalPsRoles");
    return r;
  }
  // This rank's index among the workers (-1 if none) and their number.
  std::pair<int, int> workerIndex() const {
    int i = -1, n = 0;
    detail::check(shoalPsWorkerIndex(handle("workerIndex"), &i, &n), ps_, "shoalPsWorkerIndex");
    return {i, n};
  }
  std::pair<int, int> serverIndex() const {
    int i = -1, n = 0;
    detail::check(shoalPsServerIndex(handle("serverIndex"), &i, &n), ps_, "shoalPsServerIndex");
    return {i, n};
  }

  template <Element T>
  Handle push(uint64_t key, std::span<const T> data) {
    Handle h;
    detail::check(
        shoalPsPush(handle("push"), key, data.data(), data.size(), dataTypeOf<T>, &h.value), ps_,
        "shoalPsPush");
    return h;
  }
  template <hpp_detail::ElementRange R>
  Handle push(uint64_t key, const R& data) {
    return push(key, hpp_detail::constSpan(data));
  }

  template <Element T>
  Handle pull(uint64_t key, std::span<T> out) {
    Handle h;
    detail::check(shoalPsPull(handle("pull"), key, out.data(), out.size(), dataTypeOf<T>, &h.value),
                  ps_, "shoalPsPull");
    return h;
  }
  template <hpp_detail::MutableElementRange R>
  Handle pull(uint64_t key, R& out) {
    return pull(key, hpp_detail::mutableSpan(out));
  }

  template <Element T>
  Handle pushPull(uint64_t key, std::span<const T> grad, std::span<T> out) {
    if (grad.size() != out.size()) {
      throw Exception(shoalInvalidArgument, "shoal::ps::pushPull: grad has " +
                                                std::to_string(grad.size()) + " elements, out " +
                                                std::to_string(out.size()));
    }
    Handle h;
    detail::check(shoalPsPushPull(handle("pushPull"), key, grad.data(), out.data(), out.size(),
                                  dataTypeOf<T>, &h.value),
                  ps_, "shoalPsPushPull");
    return h;
  }
  template <hpp_detail::ElementRange G, hpp_detail::MutableElementRange O>
  Handle pushPull(uint64_t key, const G& grad, O& out) {
    return pushPull(key, hpp_detail::constSpan(grad), hpp_detail::mutableSpan(out));
  }

  // Returns the version a pull read, or the round a push joined.
  uint64_t wait(Handle h) {
    uint64_t version = 0;
    detail::check(shoalPsWait(handle("wait"), h.value, &version), ps_, "shoalPsWait");
    return version;
  }

  void registerBuffer(void* ptr, size_t bytes) {
    detail::check(shoalPsRegisterBuffer(handle("registerBuffer"), ptr, bytes), ps_,
                  "shoalPsRegisterBuffer");
  }
  void deregisterBuffer(void* ptr) {
    detail::check(shoalPsDeregisterBuffer(handle("deregisterBuffer"), ptr), ps_,
                  "shoalPsDeregisterBuffer");
  }

  ServerStats serverStats() const {
    ServerStats s{};
    detail::check(shoalPsGetServerStats(handle("serverStats"), &s), ps_, "shoalPsGetServerStats");
    return s;
  }

  shoalPs_t raw() const noexcept { return ps_; }

 private:
  shoalPs_t handle(const char* what) const {
    if (!ps_) {
      throw Exception(shoalInvalidUsage,
                      std::string("shoal::ps::ParameterServer::") + what + ": empty handle");
    }
    return ps_;
  }
  shoalPs_t ps_ = nullptr;
};

}  // namespace shoal::ps

#endif  // SHOAL_PS_HPP
