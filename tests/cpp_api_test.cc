// Tests of the header-only C++ API (include/shoal/shoal.hpp): the type
// mapping, the exceptions and their codes, the RAII communicator, and
// allreduce through it in real processes with exact results.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "shoal/shoal.hpp"
#include "src/core/reduce.h"
#include "util/multiprocess.h"

namespace {

using shoal::Communicator;
using shoal::Exception;
using shoal::Op;
using shoal::UniqueId;

// Runs fn, expecting a shoal::Exception with the given code; returns its message.
template <class Fn>
std::string expectThrows(shoalResult_t code, Fn&& fn) {
  try {
    fn();
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected shoal::Exception, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected shoal::Exception with code " << code << ", nothing was thrown";
  return {};
}

// ---------------------------------------------------------------- compile-time parts

static_assert(shoal::dataTypeOf<std::int8_t> == shoalInt8);
static_assert(shoal::dataTypeOf<std::uint8_t> == shoalUint8);
static_assert(shoal::dataTypeOf<std::int32_t> == shoalInt32);
static_assert(shoal::dataTypeOf<std::uint32_t> == shoalUint32);
static_assert(shoal::dataTypeOf<std::int64_t> == shoalInt64);
static_assert(shoal::dataTypeOf<std::uint64_t> == shoalUint64);
static_assert(shoal::dataTypeOf<long long> == shoalInt64);
static_assert(shoal::dataTypeOf<unsigned long long> == shoalUint64);
static_assert(shoal::dataTypeOf<shoal::half> == shoalFloat16);
static_assert(shoal::dataTypeOf<float> == shoalFloat32);
static_assert(shoal::dataTypeOf<double> == shoalFloat64);
static_assert(shoal::dataTypeOf<shoal::bfloat16> == shoalBfloat16);
static_assert(shoal::dataTypeOf<const float> == shoalFloat32);
static_assert(shoal::dataTypeOf<volatile std::int32_t> == shoalInt32);

// Types the library cannot reduce are rejected at compile time.
static_assert(!shoal::Element<bool>);
static_assert(!shoal::Element<char>);
static_assert(!shoal::Element<std::int16_t>);
static_assert(!shoal::Element<long double>);
static_assert(!shoal::Element<std::string>);
static_assert(!shoal::Element<float*>);

static_assert(sizeof(shoal::half) == 2 && sizeof(shoal::bfloat16) == 2);
static_assert(static_cast<int>(Op::Sum) == shoalSum && static_cast<int>(Op::Prod) == shoalProd &&
              static_cast<int>(Op::Max) == shoalMax && static_cast<int>(Op::Min) == shoalMin &&
              static_cast<int>(Op::Avg) == shoalAvg);

static_assert(!std::is_copy_constructible_v<Communicator>);
static_assert(!std::is_copy_assignable_v<Communicator>);
static_assert(std::is_nothrow_move_constructible_v<Communicator>);
static_assert(std::is_nothrow_move_assignable_v<Communicator>);
static_assert(std::is_nothrow_destructible_v<Communicator>);
static_assert(std::is_base_of_v<std::runtime_error, Exception>);

// Which overloads accept which arguments: containers and spans, const sources,
// but never a const destination or mismatched element types.
template <class... A>
concept CanAllReduce = requires(Communicator& c, A&&... a) {
  c.allReduce(std::forward<A>(a)...);
};
static_assert(CanAllReduce<std::span<const float>, std::span<float>>);
static_assert(CanAllReduce<std::span<const float>, std::span<float>, Op>);
static_assert(CanAllReduce<std::span<float>, std::span<float>>);
static_assert(CanAllReduce<const std::vector<float>&, std::vector<float>&, Op>);
static_assert(CanAllReduce<std::vector<int>&, Op>);
static_assert(CanAllReduce<std::array<double, 4>&>);
static_assert(CanAllReduce<std::span<shoal::half>>);
static_assert(!CanAllReduce<const std::vector<float>&>);
static_assert(!CanAllReduce<std::vector<float>&, const std::vector<float>&>);
static_assert(!CanAllReduce<std::vector<float>&, std::vector<double>&>);
static_assert(!CanAllReduce<std::vector<bool>&>);
static_assert(!CanAllReduce<std::vector<std::int16_t>&>);

// Root and op cannot be swapped by mistake: Op does not convert to int.
template <class... A>
concept CanReduce = requires(Communicator& c, A&&... a) {
  c.reduce(std::forward<A>(a)...);
};
static_assert(CanReduce<std::vector<float>&, int>);
static_assert(CanReduce<std::vector<float>&, int, Op>);
static_assert(CanReduce<const std::vector<float>&, std::vector<float>&, int, Op>);
static_assert(!CanReduce<std::vector<float>&, Op>);
static_assert(!CanReduce<std::vector<float>&, Op, int>);

// ---------------------------------------------------------------- single process

TEST(CppApi, TypeMappingAtRunTime) {
  EXPECT_EQ(shoal::dataTypeOf<std::int8_t>, shoalInt8);
  EXPECT_EQ(shoal::dataTypeOf<std::uint64_t>, shoalUint64);
  EXPECT_EQ(shoal::dataTypeOf<shoal::bfloat16>, shoalBfloat16);
  EXPECT_EQ(shoal::dataTypeOf<shoal::half>, shoalHalf);
  // The element size the library uses for each mapped type equals sizeof(T).
  EXPECT_EQ(shoal::dtypeSize(shoal::dataTypeOf<std::int8_t>), sizeof(std::int8_t));
  EXPECT_EQ(shoal::dtypeSize(shoal::dataTypeOf<std::uint8_t>), sizeof(std::uint8_t));
  EXPECT_EQ(shoal::dtypeSize(shoal::dataTypeOf<std::int32_t>), sizeof(std::int32_t));
  EXPECT_EQ(shoal::dtypeSize(shoal::dataTypeOf<std::uint32_t>), sizeof(std::uint32_t));
  EXPECT_EQ(shoal::dtypeSize(shoal::dataTypeOf<std::int64_t>), sizeof(std::int64_t));
  EXPECT_EQ(shoal::dtypeSize(shoal::dataTypeOf<std::uint64_t>), sizeof(std::uint64_t));
  EXPECT_EQ(shoal::dtypeSize(shoal::dataTypeOf<shoal::half>), sizeof(shoal::half));
  EXPECT_EQ(shoal::dtypeSize(shoal::dataTypeOf<float>), sizeof(float));
  EXPECT_EQ(shoal::dtypeSize(shoal::dataTypeOf<double>), sizeof(double));
  EXPECT_EQ(shoal::dtypeSize(shoal::dataTypeOf<shoal::bfloat16>), sizeof(shoal::bfloat16));
}

TEST(CppApi, ExceptionCarriesCodeAndMessage) {
  const Exception e(shoalTimeout, "rank 3: allreduce: peer 1 silent for 300 s");
  EXPECT_EQ(e.code(), shoalTimeout);
  EXPECT_STREQ(e.what(), "rank 3: allreduce: peer 1 silent for 300 s");
  const std::runtime_error& base = e;
  EXPECT_STREQ(base.what(), "rank 3: allreduce: peer 1 silent for 300 s");
}

TEST(CppApi, ErrorStringsAreDistinct) {
  std::set<std::string> seen;
  for (int c = 0; c < shoalNumResults; ++c) {
    const std::string s(shoal::errorString(static_cast<shoalResult_t>(c)));
    EXPECT_FALSE(s.empty()) << "code " << c;
    EXPECT_TRUE(seen.insert(s).second) << "code " << c << " shares its string: " << s;
  }
}

TEST(CppApi, VersionMatchesHeader) { EXPECT_EQ(shoal::version(), SHOAL_VERSION_CODE); }

TEST(CppApi, UniqueIdBytesRoundTrip) {
  const UniqueId id = UniqueId::create();
  EXPECT_NE(id, UniqueId()) << "a created id must not be all zeros";
  std::vector<std::byte> wire(id.bytes().begin(), id.bytes().end());
  ASSERT_EQ(wire.size(), size_t{SHOAL_UNIQUE_ID_BYTES});
  const UniqueId back = UniqueId::fromBytes(wire);
  EXPECT_EQ(back, id);
  EXPECT_EQ(std::memcmp(&back.raw(), &id.raw(), sizeof(shoalUniqueId)), 0);

  UniqueId received;
  std::copy(wire.begin(), wire.end(), received.bytes().begin());
  EXPECT_EQ(received, id);

  wire.pop_back();
  const std::string msg =
      expectThrows(shoalInvalidArgument, [&] { (void)UniqueId::fromBytes(wire); });
  EXPECT_NE(msg.find("127"), std::string::npos) << msg;
}

TEST(CppApi, EmptyCommunicatorThrowsInvalidUsage) {
  Communicator comm;
  EXPECT_FALSE(comm);
  EXPECT_EQ(comm.get(), nullptr);
  expectThrows(shoalInvalidUsage, [&] { (void)comm.rank(); });
  expectThrows(shoalInvalidUsage, [&] { (void)comm.size(); });
  expectThrows(shoalInvalidUsage, [&] { (void)comm.transport(); });
  expectThrows(shoalInvalidUsage, [&] { (void)comm.lastAlgorithm(); });
  expectThrows(shoalInvalidUsage, [&] { comm.abort(); });
  std::vector<float> a(4), b(4);
  expectThrows(shoalInvalidUsage, [&] { comm.allReduce(a, b); });
  expectThrows(shoalInvalidUsage, [&] { comm.reduceScatter(a, b); });
  expectThrows(shoalInvalidUsage, [&] { comm.allGather(a); });
  expectThrows(shoalInvalidUsage, [&] { comm.broadcast(a, 0); });
  expectThrows(shoalInvalidUsage, [&] { comm.reduce(a, b, 0); });
  expectThrows(shoalInvalidUsage, [&] { comm.barrier(); });
  // The size check comes first: a mismatch is reported as such on any handle.
  std::vector<float> shorter(3);
  const std::string msg = expectThrows(shoalInvalidArgument, [&] { comm.allReduce(a, shorter); });
  EXPECT_NE(msg.find("4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3"), std::string::npos) << msg;
}

TEST(CppApi, InvalidInitArgumentsThrowWithTheLibraryMessage) {
  setenv("SHOAL_TIMEOUT", "20", 1);  // a wrong implementation must not hang the suite
  const UniqueId id = UniqueId::create();
  for (auto [nranks, rank] : {std::pair{2, 2}, std::pair{2, -1}, std::pair{0, 0}}) {
    SCOPED_TRACE("nranks " + std::to_string(nranks) + " rank " + std::to_string(rank));
    const std::string msg =
        expectThrows(shoalInvalidArgument, [&] { Communicator comm(id, nranks, rank); });
    EXPECT_FALSE(msg.empty());
    const char* last = shoalGetLastError(nullptr);
    ASSERT_NE(last, nullptr);
    EXPECT_EQ(msg, std::string(last)) << "the exception carries shoalGetLastError's message";
  }
}

// ---------------------------------------------------------------- multi process

// Distinct per rank and element, small integers so float sums are exact in any
// order; negative values make Max differ from "last rank wins".
float floatValue(int rank, size_t i) {
  return static_cast<float>(
      static_cast<int>((i * 7919 + static_cast<size_t>(rank) * 104729) % 2001) - 1000);
}
std::int32_t intValue(int rank, size_t i) {
  return static_cast<std::int32_t>((i * 2654435761u + static_cast<size_t>(rank) * 40503u) %
                                   2000003u) -
         1000001 + rank * 3;
}

template <class T, class Gen>
std::vector<T> contribution(int rank, size_t count, Gen gen) {
  std::vector<T> v(count);
  for (size_t i = 0; i < count; ++i) v[i] = gen(rank, i);
  return v;
}

template <class T, class Gen>
std::vector<T> expected(int nranks, size_t count, Op op, Gen gen) {
  std::vector<T> out = contribution<T>(0, count, gen);
  for (int r = 1; r < nranks; ++r) {
    for (size_t i = 0; i < count; ++i) {
      const T v = gen(r, i);
      out[i] = op == Op::Sum ? static_cast<T>(out[i] + v) : std::max(out[i], v);
    }
  }
  return out;
}

template <class T>
void expectEqualElements(const std::vector<T>& got, const std::vector<T>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t wrong = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i] && ++wrong <= 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected " << want[i];
    }
  }
  EXPECT_EQ(wrong, 0u) << what << ": " << wrong << " of " << got.size() << " elements wrong";
}

template <class T, class Gen>
void checkAllReduce(Communicator& comm, size_t count, Op op, bool inPlace, Gen gen) {
  const int rank = comm.rank();
  const int n = comm.size();
  const std::vector<T> want = expected<T>(n, count, op, gen);
  const std::string what = std::string(inPlace ? "in place " : "out of place ") +
                           (op == Op::Sum ? "sum" : "max") + " of " + std::to_string(count) + " " +
                           shoal::dtypeName(shoal::dataTypeOf<T>);
  if (inPlace) {
    std::vector<T> data = contribution<T>(rank, count, gen);
    comm.allReduce(std::span<T>(data), op);
    expectEqualElements(data, want, what.c_str());
  } else {
    const std::vector<T> send = contribution<T>(rank, count, gen);
    std::vector<T> recv(count, T{42});
    comm.allReduce(std::span<const T>(send), std::span<T>(recv), op);
    expectEqualElements(recv, want, what.c_str());
    expectEqualElements(send, contribution<T>(rank, count, gen),
                        (what + " (send untouched)").c_str());
  }
}

// Ranks over one transport, each call bounded by a minute.
shoal::test::MultiProcessOptions over(const std::string& transport) {
  shoal::test::MultiProcessOptions opts;
  opts.env["SHOAL_TRANSPORT"] = transport;
  opts.env["SHOAL_TIMEOUT"] = "60";
  return opts;
}

// One case per transport and group size, so a failure names both and cannot
// leak into the next case (forked ranks inherit the test's failure state).
class CppApiTransports : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(CppApiTransports, AllReduceFloatAndInt32SumMaxInAndOutOfPlace) {
  const auto& [transport, n] = GetParam();
  SHOAL_SKIP_UNLESS_USABLE(transport);
  auto results = shoal::test::runRanks(
      n,
      [&](int rank, int nranks, const shoalUniqueId& raw) {
        Communicator comm(UniqueId(raw), nranks, rank);
        ASSERT_TRUE(comm);
        EXPECT_EQ(comm.rank(), rank);
        EXPECT_EQ(comm.size(), nranks);
        EXPECT_EQ(comm.transport(), transport);
        // 300001 spans several pipeline chunks and splits unevenly over the ranks.
        for (size_t count : {size_t{1}, size_t{5}, size_t{1027}, size_t{300001}}) {
          for (Op op : {Op::Sum, Op::Max}) {
            for (bool inPlace : {false, true}) {
              checkAllReduce<float>(comm, count, op, inPlace, floatValue);
              checkAllReduce<std::int32_t>(comm, count, op, inPlace, intValue);
            }
          }
        }
        EXPECT_FALSE(comm.lastAlgorithm().empty());
      },
      over(transport));
  shoal::test::expectAllRanksPassed(results);
}

TEST_P(CppApiTransports, ReduceScatterAllGatherBroadcastReduceBarrier) {
  const auto& [transport, n] = GetParam();
  SHOAL_SKIP_UNLESS_USABLE(transport);
  auto results = shoal::test::runRanks(
      n,
      [&](int rank, int nranks, const shoalUniqueId& raw) {
        Communicator comm(UniqueId(raw), nranks, rank);
        const size_t un = static_cast<size_t>(nranks);
        const size_t ur = static_cast<size_t>(rank);

        // Sizes are checked on every rank before anything is sent, so these
        // throw everywhere and the group stays usable. Each rank names itself
        // root so that the root-only checks fire on every rank.
        std::vector<float> five(5), four(4), none;
        expectThrows(shoalInvalidArgument, [&] { comm.reduceScatter(five, four); });
        expectThrows(shoalInvalidArgument, [&] { comm.allGather(four, five); });
        expectThrows(shoalInvalidArgument, [&] { comm.broadcast(five, four, rank); });
        expectThrows(shoalInvalidArgument, [&] { comm.reduce(five, four, rank); });
        std::vector<float> uneven(un * 3 + 1);
        expectThrows(shoalInvalidArgument, [&] { comm.reduceScatter(uneven); });
        expectThrows(shoalInvalidArgument, [&] { comm.allGather(uneven); });

        for (size_t count : {size_t{1}, size_t{1027}, size_t{100003}}) {
          SCOPED_TRACE("count " + std::to_string(count));
          // reduceScatter, out of place, float sum.
          {
            std::vector<float> send(un * count);
            for (size_t j = 0; j < send.size(); ++j) send[j] = floatValue(rank, j);
            std::vector<float> recv(count, 42.0f), want(count, 0.0f);
            for (size_t i = 0; i < count; ++i) {
              for (int r = 0; r < nranks; ++r) want[i] += floatValue(r, ur * count + i);
            }
            comm.reduceScatter(send, recv);
            expectEqualElements(recv, want, "reduceScatter sum float");
          }
          // reduceScatter, in place, int32 max: the result is this rank's block.
          {
            std::vector<std::int32_t> data(un * count);
            for (size_t j = 0; j < data.size(); ++j) data[j] = intValue(rank, j);
            std::vector<std::int32_t> want(count);
            for (size_t i = 0; i < count; ++i) {
              want[i] = intValue(0, ur * count + i);
              for (int r = 1; r < nranks; ++r)
                want[i] = std::max(want[i], intValue(r, ur * count + i));
            }
            std::span<std::int32_t> mine = comm.reduceScatter(data, Op::Max);
            ASSERT_EQ(mine.data(), data.data() + ur * count);
            expectEqualElements(std::vector<std::int32_t>(mine.begin(), mine.end()), want,
                                "in-place reduceScatter max int32");
          }
          // allGather, out of place, int32.
          {
            std::vector<std::int32_t> send(count), recv(un * count, -7), want(un * count);
            for (size_t i = 0; i < count; ++i) send[i] = intValue(rank, i);
            for (int r = 0; r < nranks; ++r) {
              for (size_t i = 0; i < count; ++i)
                want[static_cast<size_t>(r) * count + i] = intValue(r, i);
            }
            comm.allGather(send, recv);
            expectEqualElements(recv, want, "allGather int32");
          }
          // allGather, in place, float: only this rank's block is filled before.
          {
            std::vector<float> data(un * count, -1.0f), want(un * count);
            for (size_t i = 0; i < count; ++i) data[ur * count + i] = floatValue(rank, i);
            for (int r = 0; r < nranks; ++r) {
              for (size_t i = 0; i < count; ++i)
                want[static_cast<size_t>(r) * count + i] = floatValue(r, i);
            }
            comm.allGather(data);
            expectEqualElements(data, want, "in-place allGather float");
          }
          // broadcast, out of place from the last rank; the others pass no send.
          {
            const int root = nranks - 1;
            std::vector<float> send, recv(count, 42.0f), want(count);
            for (size_t i = 0; i < count; ++i) want[i] = floatValue(root, i);
            if (rank == root) send = want;
            comm.broadcast(send, recv, root);
            expectEqualElements(recv, want, "broadcast float");
          }
          // broadcast, in place from rank 0.
          {
            std::vector<std::int32_t> data(count), want(count);
            for (size_t i = 0; i < count; ++i) {
              want[i] = intValue(0, i);
              data[i] = intValue(rank, i);
            }
            comm.broadcast(data, 0);
            expectEqualElements(data, want, "in-place broadcast int32");
          }
          // reduce, out of place, int32 sum to rank 1 % n; the others pass no recv.
          {
            const int root = 1 % nranks;
            std::vector<std::int32_t> send(count), recv, want(count, 0);
            for (size_t i = 0; i < count; ++i) {
              send[i] = intValue(rank, i);
              for (int r = 0; r < nranks; ++r) want[i] += intValue(r, i);
            }
            if (rank == root) recv.assign(count, 42);
            const std::vector<std::int32_t> sent = send;
            comm.reduce(send, recv, root);
            if (rank == root) expectEqualElements(recv, want, "reduce sum int32");
            expectEqualElements(send, sent, "reduce send untouched");
          }
          // reduce, in place, float max to rank 0; elsewhere the data is only read.
          {
            std::vector<float> data(count), want(count), mine(count);
            for (size_t i = 0; i < count; ++i) {
              mine[i] = floatValue(rank, i);
              want[i] = floatValue(0, i);
              for (int r = 1; r < nranks; ++r) want[i] = std::max(want[i], floatValue(r, i));
            }
            data = mine;
            comm.reduce(data, 0, Op::Max);
            expectEqualElements(data, rank == 0 ? want : mine, "in-place reduce max float");
          }
        }
        comm.barrier();
      },
      over(transport));
  shoal::test::expectAllRanksPassed(results);
}

INSTANTIATE_TEST_SUITE_P(Transports, CppApiTransports,
                         ::testing::Combine(::testing::Values("shm", "ucx", "verbs"),
                                            ::testing::Values(2, 3)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" +
                                  std::to_string(std::get<1>(info.param)) + "ranks";
                         });

TEST(CppApiMultiProcess, ContainersMoveAndSizeMismatch) {
  SHOAL_SKIP_UNLESS_USABLE("shm");
  auto results = shoal::test::runRanks(
      3,
      [&](int rank, int nranks, const shoalUniqueId& raw) {
        Communicator first(UniqueId(raw), nranks, rank);
        // Ownership moves; the source becomes empty and says so.
        Communicator comm(std::move(first));
        EXPECT_FALSE(first);
        expectThrows(shoalInvalidUsage, [&] { (void)first.rank(); });
        Communicator other;
        other = std::move(comm);
        comm = std::move(other);
        ASSERT_TRUE(comm);

        // A size mismatch throws before anything reaches the wire, so the
        // group stays usable for the next collective.
        std::vector<double> send(10, 1.0), recv(9);
        expectThrows(shoalInvalidArgument, [&] { comm.allReduce(send, recv); });

        // Containers through the range overloads, with every other op.
        std::vector<double> d(100);
        for (size_t i = 0; i < d.size(); ++i) d[i] = 0.5 * static_cast<double>(rank + 1) * i;
        std::vector<double> dOut(100, -1);
        comm.allReduce(d, dOut, Op::Min);
        for (size_t i = 0; i < d.size(); ++i) EXPECT_EQ(dOut[i], 0.5 * i) << "min element " << i;

        // Products above 2^32 but below 2^63: only a 64-bit signed type gets them.
        auto bigValue = [](int r, size_t i) {
          return -(std::int64_t{1} << 18) * (r + 1) - static_cast<std::int64_t>(i);
        };
        std::array<std::int64_t, 6> big{};
        for (size_t i = 0; i < big.size(); ++i) big[i] = bigValue(rank, i);
        comm.allReduce(big, Op::Prod);
        for (size_t i = 0; i < big.size(); ++i) {
          std::int64_t want = 1;
          for (int r = 0; r < nranks; ++r) want *= bigValue(r, i);
          EXPECT_EQ(big[i], want) << "prod element " << i;
        }

        std::vector<std::uint64_t> u(33);
        // Rank 0's small values would win a signed comparison.
        for (size_t i = 0; i < u.size(); ++i) {
          u[i] = rank == 0 ? i : (std::uint64_t{1} << 63) + rank * 1000 + i;
        }
        comm.allReduce(u, Op::Max);
        for (size_t i = 0; i < u.size(); ++i) {
          EXPECT_EQ(u[i], (std::uint64_t{1} << 63) + (nranks - 1) * 1000 + i)
              << "max element " << i;
        }

        // Signed and unsigned 8-bit minimums differ on these values.
        const std::int8_t s8Values[] = {-5, 3, 7};
        std::vector<std::int8_t> s8(17, s8Values[rank]);
        comm.allReduce(s8, Op::Min);
        for (auto v : s8) EXPECT_EQ(v, -5);

        std::vector<std::uint32_t> u32(9, static_cast<std::uint32_t>(rank * 10 + 1));
        comm.allReduce(u32, Op::Avg);
        for (auto v : u32) EXPECT_EQ(v, (1u + 11u + 21u) / 3u);

        const std::uint8_t u8Values[] = {200, 100, 150};
        std::vector<std::uint8_t> u8(65, u8Values[rank]);
        comm.allReduce(u8, Op::Min);
        for (auto v : u8) EXPECT_EQ(v, 100u);

        // 16-bit floats: small integers are exact in both formats.
        std::vector<shoal::half> h(40);
        std::vector<shoal::bfloat16> b(40);
        for (size_t i = 0; i < h.size(); ++i) {
          h[i].bits = shoal::floatToHalf(static_cast<float>(i) - 3.0f * rank);
          b[i].bits = shoal::floatToBf16(static_cast<float>(i) + rank);
        }
        comm.allReduce(h);
        comm.allReduce(b);
        for (size_t i = 0; i < h.size(); ++i) {
          EXPECT_EQ(shoal::halfToFloat(h[i].bits), 3.0f * i - 9.0f) << "half element " << i;
          EXPECT_EQ(shoal::bf16ToFloat(b[i].bits), 3.0f * i + 3.0f) << "bfloat16 element " << i;
        }
      },
      over("shm"));
  shoal::test::expectAllRanksPassed(results);
}

}  // namespace
