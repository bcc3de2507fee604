// shoal C++ API: a header-only layer over the C API in shoal/shoal.h.
//
// Errors become shoal::Exception (carrying the shoalResult_t and the library's
// last-error message); communicators are move-only RAII handles; element types
// map to shoalDataType_t at compile time, so a mismatched type cannot be sent.
//
//   auto id = shoal::UniqueId::create();            // on one rank, then share id.bytes()
//   shoal::Communicator comm(id, nranks, rank);
//   comm.allReduce(std::span<const float>(in), std::span<float>(out), shoal::Op::Max);
//   comm.allReduce(values);                          // in place, Sum
//
// reduceScatter, allGather, broadcast, reduce and barrier follow the same
// pattern (see Communicator); any contiguous container or span works as a buffer.
#ifndef SHOAL_SHOAL_HPP
#define SHOAL_SHOAL_HPP

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "shoal/shoal.hpp needs C++20; from C or older C++ include shoal/shoal.h"
#endif

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "shoal/shoal.h"

namespace shoal {

// ---------------------------------------------------------------- errors

class Exception : public std::runtime_error {
 public:
  Exception(shoalResult_t code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  shoalResult_t code() const noexcept { return code_; }

 private:
  shoalResult_t code_;
};

// Human-readable name of a result code ("invalid argument", ...).
inline std::string_view errorString(shoalResult_t code) {
  const char* s = shoalGetErrorString(code);
  return s ? std::string_view(s) : std::string_view();
}

namespace hpp_detail {

// Builds the exception for a failed C call. The library's last-error message
// names the rank and the cause; the result's generic name is the fallback for
// failures that recorded nothing.
[[noreturn]] inline void throwFailure(shoalResult_t code, shoalComm_t comm, const char* call) {
  const char* last = shoalGetLastError(comm);
  if ((last == nullptr || *last == '\0') && comm != nullptr) last = shoalGetLastError(nullptr);
  std::string message;
  if (last != nullptr && *last != '\0') {
    message = last;
  } else {
    message = std::string(call) + " failed: " + std::string(errorString(code));
  }
  throw Exception(code, message);
}

inline void check(shoalResult_t code, shoalComm_t comm, const char* call) {
  if (code != shoalSuccess) throwFailure(code, comm, call);
}

}  // namespace hpp_detail

// Library version as SHOAL_VERSION_CODE encodes it (major*10000+minor*100+patch).
inline int version() {
  int v = 0;
  hpp_detail::check(shoalGetVersion(&v), nullptr, "shoalGetVersion");
  return v;
}

// ---------------------------------------------------------------- types

// 16-bit floating-point element types, carried as raw bits: reductions happen
// inside the library, so C++ code only needs to store and move them.
struct half {
  std::uint16_t bits = 0;
  friend constexpr bool operator==(half, half) = default;
};
struct bfloat16 {
  std::uint16_t bits = 0;
  friend constexpr bool operator==(bfloat16, bfloat16) = default;
};
static_assert(sizeof(half) == 2 && std::is_trivially_copyable_v<half>);
static_assert(sizeof(bfloat16) == 2 && std::is_trivially_copyable_v<bfloat16>);

// DataTypeOf<T>::value is T's shoalDataType_t; it is undefined for types the
// library cannot reduce, which is what the Element concept tests.
template <class T>
struct DataTypeOf {};

template <shoalDataType_t V>
struct DataTypeConstant {
  static constexpr shoalDataType_t value = V;
};

template <>
struct DataTypeOf<std::int8_t> : DataTypeConstant<shoalInt8> {};
template <>
struct DataTypeOf<std::uint8_t> : DataTypeConstant<shoalUint8> {};
template <>
struct DataTypeOf<std::int32_t> : DataTypeConstant<shoalInt32> {};
template <>
struct DataTypeOf<std::uint32_t> : DataTypeConstant<shoalUint32> {};
template <>
struct DataTypeOf<std::int64_t> : DataTypeConstant<shoalInt64> {};
template <>
struct DataTypeOf<std::uint64_t> : DataTypeConstant<shoalUint64> {};
template <>
struct DataTypeOf<half> : DataTypeConstant<shoalFloat16> {};
template <>
struct DataTypeOf<float> : DataTypeConstant<shoalFloat32> {};
template <>
struct DataTypeOf<double> : DataTypeConstant<shoalFloat64> {};
template <>
struct DataTypeOf<bfloat16> : DataTypeConstant<shoalBfloat16> {};

// long long and unsigned long long are distinct from int64_t/uint64_t where
// those are long (LP64 Linux); they are the same 64-bit integers.
template <class T>
requires(std::same_as<T, long long> && !std::same_as<long long, std::int64_t> &&
         sizeof(long long) == 8) struct DataTypeOf<T> : DataTypeConstant<shoalInt64> {
};
template <class T>
requires(std::same_as<T, unsigned long long> && !std::same_as<unsigned long long, std::uint64_t> &&
         sizeof(unsigned long long) == 8) struct DataTypeOf<T> : DataTypeConstant<shoalUint64> {
};

template <class T>
concept Element = requires {
  { DataTypeOf<std::remove_cv_t<T>>::value } -> std::convertible_to<shoalDataType_t>;
};

template <Element T>
inline constexpr shoalDataType_t dataTypeOf = DataTypeOf<std::remove_cv_t<T>>::value;

enum class Op : int {
  Sum = shoalSum,
  Prod = shoalProd,
  Max = shoalMax,
  Min = shoalMin,
  Avg = shoalAvg,
};

namespace hpp_detail {

template <class R>
using RangeElement = std::remove_cv_t<std::ranges::range_value_t<R>>;

// A contiguous, sized range of reducible elements (vector, array, span, ...).
template <class R>
concept ElementRange = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
    Element<std::ranges::range_value_t<R>>;

// ... whose elements can be written.
template <class R>
concept MutableElementRange =
    ElementRange<R> && !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>;

template <class T>
constexpr shoalDataType_t spanType(std::span<T>) {
  return dataTypeOf<T>;
}

template <class R>
auto constSpan(R&& r) {
  return std::span<const RangeElement<R>>(std::ranges::data(r), std::ranges::size(r));
}
template <class R>
auto mutableSpan(R&& r) {
  return std::span<RangeElement<R>>(std::ranges::data(r), std::ranges::size(r));
}

}  // namespace hpp_detail

// ---------------------------------------------------------------- unique id

// The rendezvous token: create() it on one process, send bytes() to every
// other rank (any channel), rebuild it there with fromBytes().
class UniqueId {
 public:
  static constexpr std::size_t kSize = SHOAL_UNIQUE_ID_BYTES;

  UniqueId() noexcept { std::memset(&id_, 0, sizeof(id_)); }
  explicit UniqueId(const shoalUniqueId& raw) noexcept : id_(raw) {}

  // Starts the rendezvous root in this process (shoalGetUniqueId).
  static UniqueId create() {
    UniqueId id;
    hpp_detail::check(shoalGetUniqueId(&id.id_), nullptr, "shoalGetUniqueId");
    return id;
  }

  static UniqueId fromBytes(std::span<const std::byte> bytes) {
    if (bytes.size() != kSize) {
      throw Exception(shoalInvalidArgument, "shoal::UniqueId::fromBytes: got " +
                                                std::to_string(bytes.size()) + " bytes, need " +
                                                std::to_string(kSize));
    }
    UniqueId id;
    std::memcpy(&id.id_, bytes.data(), kSize);
    return id;
  }

  std::span<const std::byte, kSize> bytes() const noexcept {
    return std::span<const std::byte, kSize>(reinterpret_cast<const std::byte*>(&id_), kSize);
  }
  // Writable view, to receive an id directly into it.
  std::span<std::byte, kSize> bytes() noexcept {
    return std::span<std::byte, kSize>(reinterpret_cast<std::byte*>(&id_), kSize);
  }

  const shoalUniqueId& raw() const noexcept { return id_; }
  shoalUniqueId& raw() noexcept { return id_; }

  friend bool operator==(const UniqueId& a, const UniqueId& b) noexcept {
    return std::memcmp(&a.id_, &b.id_, kSize) == 0;
  }

 private:
  shoalUniqueId id_;
};
static_assert(sizeof(shoalUniqueId) == UniqueId::kSize);

// ---------------------------------------------------------------- communicator

class Communicator {
 public:
  // An empty handle (like a moved-from one): every operation on it throws
  // shoalInvalidUsage.
  Communicator() noexcept = default;

  // Collective: every rank of the group calls it with the same id and nranks.
  Communicator(const UniqueId& id, int nranks, int rank) {
    hpp_detail::check(shoalCommInitRank(&comm_, nranks, id.raw(), rank), nullptr,
                      "shoalCommInitRank");
  }

  // Rank, size and root from SHOAL_*, torchrun, Open MPI or Slurm variables.
  static Communicator fromEnv() {
    shoalComm_t comm = nullptr;
    hpp_detail::check(shoalCommInitFromEnv(&comm), nullptr, "shoalCommInitFromEnv");
    return Communicator(comm);
  }

  // Takes ownership of a communicator created through the C API.
  static Communicator adopt(shoalComm_t comm) noexcept { return Communicator(comm); }

  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  Communicator(Communicator&& other) noexcept : comm_(std::exchange(other.comm_, nullptr)) {}
  Communicator& operator=(Communicator&& other) noexcept {
    if (this != &other) {
      destroy();
      comm_ = std::exchange(other.comm_, nullptr);
    }
    return *this;
  }

  // Destroying is collective in the library and may fail (a peer died); a
  // destructor cannot report that, so the result is dropped here. Call
  // abort() first when the group is known to be broken.
  ~Communicator() { destroy(); }

  // Tears the communicator down without waiting for peers; the handle is
  // empty afterwards even when the library reports an error.
  void abort() {
    shoalComm_t comm = handle("abort");
    comm_ = nullptr;
    hpp_detail::check(shoalCommAbort(comm), nullptr, "shoalCommAbort");
  }

  int rank() const {
    int r = -1;
    shoalComm_t comm = handle("rank");
    hpp_detail::check(shoalCommUserRank(comm, &r), comm, "shoalCommUserRank");
    return r;
  }

  int size() const {
    int n = 0;
    shoalComm_t comm = handle("size");
    hpp_detail::check(shoalCommCount(comm, &n), comm, "shoalCommCount");
    return n;
  }

  // Names of the algorithm and the transport the last collective used.
  std::string lastAlgorithm() const {
    return text(shoalCommLastAlgorithm(handle("lastAlgorithm")));
  }
  std::string transport() const { return text(shoalCommTransportName(handle("transport"))); }

  // recv[i] = op over ranks of send[i]. Sizes must match; send and recv may be
  // the same memory (then prefer the in-place overload).
  template <Element T>
  void allReduce(std::span<const T> send, std::span<T> recv, Op op = Op::Sum) {
    if (send.size() != recv.size()) {
      throw Exception(shoalInvalidArgument,
                      "shoal::Communicator::allReduce: send has " + std::to_string(send.size()) +
                          " elements but recv has " + std::to_string(recv.size()));
    }
    shoalComm_t comm = handle("allReduce");
    hpp_detail::check(shoalAllReduce(send.data(), recv.data(), send.size(), dataTypeOf<T>,
                                     static_cast<shoalRedOp_t>(op), comm, nullptr),
                      comm, "shoalAllReduce");
  }

  // data[i] = op over ranks of data[i].
  template <Element T>
  void allReduce(std::span<T> data, Op op = Op::Sum) {
    allReduce(std::span<const T>(data.data(), data.size()), data, op);
  }

  // The same for any contiguous container (std::vector, std::array, ...).
  template <hpp_detail::ElementRange S, hpp_detail::MutableElementRange R>
  requires std::same_as<hpp_detail::RangeElement<S>, hpp_detail::RangeElement<R>>
  void allReduce(S&& send, R&& recv, Op op = Op::Sum) {
    using T = hpp_detail::RangeElement<R>;
    allReduce(std::span<const T>(std::ranges::data(send), std::ranges::size(send)),
              std::span<T>(std::ranges::data(recv), std::ranges::size(recv)), op);
  }

  template <hpp_detail::MutableElementRange R>
  void allReduce(R&& data, Op op = Op::Sum) {
    using T = hpp_detail::RangeElement<R>;
    allReduce(std::span<T>(std::ranges::data(data), std::ranges::size(data)), op);
  }

  // NCCL's conventions for the collectives below: n = size(), blocks are laid
  // out by rank, "in place" means the data already sits where the C API
  // expects it. Every size is checked here before anything is sent.

  // recv = op over ranks of block rank() of send; send holds n blocks of
  // recv.size() elements.
  template <hpp_detail::ElementRange S, hpp_detail::MutableElementRange R>
  requires std::same_as<hpp_detail::RangeElement<S>, hpp_detail::RangeElement<R>>
  void reduceScatter(S&& send, R&& recv, Op op = Op::Sum) {
    auto in = hpp_detail::constSpan(send);
    auto out = hpp_detail::mutableSpan(recv);
    shoalComm_t comm = handle("reduceScatter");
    const std::size_t n = static_cast<std::size_t>(size());
    if (in.size() != out.size() * n) {
      sizeMismatch("reduceScatter", "send has " + std::to_string(in.size()) +
                                        " elements, need size() * recv.size() = " +
                                        std::to_string(n) + " * " + std::to_string(out.size()));
    }
    hpp_detail::check(
        shoalReduceScatter(in.data(), out.data(), out.size(), hpp_detail::spanType(out),
                           static_cast<shoalRedOp_t>(op), comm, nullptr),
        comm, "shoalReduceScatter");
  }

  // In place: data holds n blocks; returns block rank(), which holds the result.
  template <hpp_detail::MutableElementRange R>
  auto reduceScatter(R&& data, Op op = Op::Sum) {
    auto all = hpp_detail::mutableSpan(data);
    shoalComm_t comm = handle("reduceScatter");
    auto mine = ownBlock(all, "reduceScatter");
    hpp_detail::check(
        shoalReduceScatter(all.data(), mine.data(), mine.size(), hpp_detail::spanType(all),
                           static_cast<shoalRedOp_t>(op), comm, nullptr),
        comm, "shoalReduceScatter");
    return mine;
  }

  // Block r of recv = send of rank r; recv holds n blocks of send.size().
  template <hpp_detail::ElementRange S, hpp_detail::MutableElementRange R>
  requires std::same_as<hpp_detail::RangeElement<S>, hpp_detail::RangeElement<R>>
  void allGather(S&& send, R&& recv) {
    auto in = hpp_detail::constSpan(send);
    auto out = hpp_detail::mutableSpan(recv);
    shoalComm_t comm = handle("allGather");
    const std::size_t n = static_cast<std::size_t>(size());
    if (out.size() != in.size() * n) {
      sizeMismatch("allGather", "recv has " + std::to_string(out.size()) +
                                    " elements, need size() * send.size() = " + std::to_string(n) +
                                    " * " + std::to_string(in.size()));
    }
    hpp_detail::check(
        shoalAllGather(in.data(), out.data(), in.size(), hpp_detail::spanType(out), comm, nullptr),
        comm, "shoalAllGather");
  }

  // In place: this rank's contribution already sits in block rank() of data.
  template <hpp_detail::MutableElementRange R>
  void allGather(R&& data) {
    auto all = hpp_detail::mutableSpan(data);
    shoalComm_t comm = handle("allGather");
    auto mine = ownBlock(all, "allGather");
    hpp_detail::check(shoalAllGather(mine.data(), all.data(), mine.size(),
                                     hpp_detail::spanType(all), comm, nullptr),
                      comm, "shoalAllGather");
  }

  // recv = send of root. send is read on the root only (other ranks may pass
  // an empty range), where its size must equal recv's.
  template <hpp_detail::ElementRange S, hpp_detail::MutableElementRange R>
  requires std::same_as<hpp_detail::RangeElement<S>, hpp_detail::RangeElement<R>>
  void broadcast(S&& send, R&& recv, int root) {
    auto in = hpp_detail::constSpan(send);
    auto out = hpp_detail::mutableSpan(recv);
    shoalComm_t comm = handle("broadcast");
    if (rank() == root && in.size() != out.size()) {
      sizeMismatch("broadcast", "the root's send has " + std::to_string(in.size()) +
                                    " elements but recv has " + std::to_string(out.size()));
    }
    hpp_detail::check(shoalBroadcast(in.data(), out.data(), out.size(), hpp_detail::spanType(out),
                                     root, comm, nullptr),
                      comm, "shoalBroadcast");
  }

  // In place: data = root's data.
  template <hpp_detail::MutableElementRange R>
  void broadcast(R&& data, int root) {
    auto all = hpp_detail::mutableSpan(data);
    shoalComm_t comm = handle("broadcast");
    hpp_detail::check(shoalBroadcast(all.data(), all.data(), all.size(), hpp_detail::spanType(all),
                                     root, comm, nullptr),
                      comm, "shoalBroadcast");
  }

  // On the root, recv = op over ranks of send. recv is written on the root
  // only (other ranks may pass an empty range), where its size must equal send's.
  template <hpp_detail::ElementRange S, hpp_detail::MutableElementRange R>
  requires std::same_as<hpp_detail::RangeElement<S>, hpp_detail::RangeElement<R>>
  void reduce(S&& send, R&& recv, int root, Op op = Op::Sum) {
    auto in = hpp_detail::constSpan(send);
    auto out = hpp_detail::mutableSpan(recv);
    shoalComm_t comm = handle("reduce");
    if (rank() == root && in.size() != out.size()) {
      sizeMismatch("reduce", "send has " + std::to_string(in.size()) +
                                 " elements but the root's recv has " + std::to_string(out.size()));
    }
    hpp_detail::check(shoalReduce(in.data(), out.data(), in.size(), hpp_detail::spanType(in),
                                  static_cast<shoalRedOp_t>(op), root, comm, nullptr),
                      comm, "shoalReduce");
  }

  // In place: on the root, data = op over ranks of data; elsewhere data is
  // only read.
  template <hpp_detail::MutableElementRange R>
  void reduce(R&& data, int root, Op op = Op::Sum) {
    auto all = hpp_detail::mutableSpan(data);
    shoalComm_t comm = handle("reduce");
    hpp_detail::check(shoalReduce(all.data(), all.data(), all.size(), hpp_detail::spanType(all),
                                  static_cast<shoalRedOp_t>(op), root, comm, nullptr),
                      comm, "shoalReduce");
  }

  // Returns once every rank has entered the barrier.
  void barrier() {
    shoalComm_t comm = handle("barrier");
    hpp_detail::check(shoalBarrier(comm, nullptr), comm, "shoalBarrier");
  }

  shoalComm_t get() const noexcept { return comm_; }
  // Gives up ownership; the caller destroys the returned handle.
  shoalComm_t release() noexcept { return std::exchange(comm_, nullptr); }
  explicit operator bool() const noexcept { return comm_ != nullptr; }

 private:
  explicit Communicator(shoalComm_t comm) noexcept : comm_(comm) {}

  shoalComm_t handle(const char* operation) const {
    if (comm_ == nullptr) {
      throw Exception(shoalInvalidUsage, std::string("shoal::Communicator::") + operation +
                                             ": empty communicator (moved from or aborted)");
    }
    return comm_;
  }

  [[noreturn]] static void sizeMismatch(const char* operation, const std::string& detail) {
    throw Exception(shoalInvalidArgument,
                    std::string("shoal::Communicator::") + operation + ": " + detail);
  }

  // Block rank() of data split into size() equal blocks.
  template <class T>
  std::span<T> ownBlock(std::span<T> data, const char* operation) const {
    const std::size_t n = static_cast<std::size_t>(size());
    if (data.size() % n != 0) {
      sizeMismatch(operation, std::to_string(data.size()) +
                                  " elements do not split into size() = " + std::to_string(n) +
                                  " equal blocks");
    }
    const std::size_t count = data.size() / n;
    return data.subspan(static_cast<std::size_t>(rank()) * count, count);
  }

  void destroy() noexcept {
    if (comm_ != nullptr) (void)shoalCommDestroy(std::exchange(comm_, nullptr));
  }

  static std::string text(const char* s) { return s ? std::string(s) : std::string(); }

  shoalComm_t comm_ = nullptr;
};

}  // namespace shoal

#endif  // SHOAL_SHOAL_HPP
