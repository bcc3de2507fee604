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

  void destroy() noexcept {
    if (comm_ != nullptr) (void)shoalCommDestroy(std::exchange(comm_, nullptr));
  }

  static std::string text(const char* s) { return s ? std::string(s) : std::string(); }

  shoalComm_t comm_ = nullptr;
};

}  // namespace shoal

#endif  // SHOAL_SHOAL_HPP
