// The executor's wire (core/exec_wire.h) as a peer's bytes reach it: each
// control message decoded only at its exact size, GPU slot announcements in
// their two halves, credits handed back inside signatures, and a write's
// message number read the same whatever flag bits (landed in place, in a GPU
// slot) ride above it.
#include "core/exec_wire.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace shoal::execwire {
namespace {

template <class M>
std::vector<uint8_t> bytesOf(const M& m) {
  std::vector<uint8_t> b(sizeof(m));
  memcpy(b.data(), &m, sizeof(m));
  return b;
}

TEST(ExecWire, DeviceSlotsDecodeBothHalvesExactly) {
  for (uint8_t part : {0, 1}) {
    DeviceSlotsMsg m{};
    m.type = kCtrlDeviceSlots;
    m.part = part;
    m.offset = 3u << 21;
    for (int i = 0; i < 32; ++i) m.half[i] = static_cast<uint8_t>(32 * part + i);
    std::vector<uint8_t> b = bytesOf(m);
    Ctrl c = decodeCtrl(b.data(), b.size());
    ASSERT_EQ(c.kind, Ctrl::kDeviceSlots) << "part " << int(part);
    EXPECT_EQ(c.slots.part, part);
    EXPECT_EQ(c.slots.offset, m.offset);
    EXPECT_EQ(memcmp(c.slots.half, m.half, sizeof(m.half)), 0);
    // One byte short or long is no announcement.
    EXPECT_EQ(decodeCtrl(b.data(), b.size() - 1).kind, Ctrl::kMalformed);
    b.push_back(0);
    EXPECT_EQ(decodeCtrl(b.data(), b.size()).kind, Ctrl::kMalformed);
  }
}

TEST(ExecWire, DeviceSlotsPartBeyondTheSecondIsMalformed) {
  DeviceSlotsMsg m{};
  m.type = kCtrlDeviceSlots;
  for (uint8_t part : {2, 7, 255}) {
    m.part = part;
    std::vector<uint8_t> b = bytesOf(m);
    EXPECT_EQ(decodeCtrl(b.data(), b.size()).kind, Ctrl::kMalformed) << "part " << int(part);
  }
}

TEST(ExecWire, EveryKindOnlyAtItsOwnSize) {
  CreditMsg credit{};
  credit.type = kCtrlCredit;
  credit.count = 3;
  SameSignatureMsg same{};
  same.type = kCtrlSameSignature;
  same.sequenceLow = 42;
  LandingMsg landing{};
  landing.type = kCtrlLanding;
  landing.sequence = 9;
  std::vector<uint8_t> c = bytesOf(credit), s = bytesOf(same), l = bytesOf(landing);
  EXPECT_EQ(decodeCtrl(c.data(), c.size()).kind, Ctrl::kCredit);
  EXPECT_EQ(decodeCtrl(c.data(), c.size()).credits, 3u);
  EXPECT_EQ(decodeCtrl(s.data(), s.size()).kind, Ctrl::kSameSignature);
  EXPECT_EQ(decodeCtrl(s.data(), s.size()).sequenceLow, 42u);
  EXPECT_EQ(decodeCtrl(l.data(), l.size()).kind, Ctrl::kLanding);
  // A credit message as long as a landing answer, or a type no one sends.
  c.resize(l.size());
  EXPECT_EQ(decodeCtrl(c.data(), c.size()).kind, Ctrl::kMalformed);
  l[0] = 99;
  EXPECT_EQ(decodeCtrl(l.data(), l.size()).kind, Ctrl::kMalformed);
  EXPECT_EQ(decodeCtrl(l.data(), 0).kind, Ctrl::kMalformed);
}

// Credits handed back with either signature form (a write's note): the
// count comes out as sent, and a signature without any says 0.
TEST(ExecWire, SignaturesCarryCreditsHandedBack) {
  for (uint16_t credits : {0, 1, 2, 1024}) {
    SameSignatureMsg same{};
    same.type = kCtrlSameSignature;
    same.credits = credits;
    same.sequenceLow = 7;
    std::vector<uint8_t> b = bytesOf(same);
    Ctrl c = decodeCtrl(b.data(), b.size());
    ASSERT_EQ(c.kind, Ctrl::kSameSignature);
    EXPECT_EQ(c.credits, credits);
    EXPECT_EQ(c.sequenceLow, 7u);
    SignatureMsg full{};
    full.type = kCtrlSignature;
    full.credits = credits;
    full.sig.count = 123;
    snprintf(full.sig.algorithm, sizeof(full.sig.algorithm), "rd");
    b = bytesOf(full);
    c = decodeCtrl(b.data(), b.size());
    ASSERT_EQ(c.kind, Ctrl::kSignature);
    EXPECT_EQ(c.credits, credits);
    EXPECT_EQ(c.sig.count, 123u);
    EXPECT_STREQ(c.sig.algorithm, "rd");
  }
  // The field sits at the same place in both, where the sender writes it.
  EXPECT_EQ(offsetof(SignatureMsg, credits), offsetof(SameSignatureMsg, credits));
  // Whatever a peer claims, creditsValid bounds what is taken.
  EXPECT_FALSE(creditsValid(0xffff, 0, 4));
  EXPECT_FALSE(creditsValid(2, 3, 4));
  EXPECT_TRUE(creditsValid(1, 3, 4));
}

TEST(ExecWire, FlagBitsDoNotMoveTheMessageNumber) {
  const int slots = 4;
  for (uint64_t recvSeq : {uint64_t{0}, uint64_t{5}, uint64_t{kSeqMask} - 1, uint64_t{1} << 40}) {
    for (uint32_t ahead = 0; ahead < 6; ++ahead) {
      const uint32_t imm = static_cast<uint32_t>(recvSeq + ahead) & kSeqMask;
      const int64_t want = ahead < static_cast<uint32_t>(slots) ? int64_t{ahead} : int64_t{-1};
      EXPECT_EQ(writeAhead(imm, recvSeq, slots), want);
      EXPECT_EQ(writeAhead(imm | kLandedBit, recvSeq, slots), want);
      EXPECT_EQ(writeAhead(imm | kDeviceSlotBit, recvSeq, slots), want) << recvSeq << "+" << ahead;
    }
  }
  EXPECT_EQ(kSeqMask & (kLandedBit | kDeviceSlotBit), 0u);
  EXPECT_NE(kLandedBit, kDeviceSlotBit);
}

}  // namespace
}  // namespace shoal::execwire
