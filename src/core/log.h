// Logging controlled by SHOAL_DEBUG (WARN|INFO|TRACE), SHOAL_DEBUG_SUBSYS
// (comma list, ^ to exclude, like NCCL) and SHOAL_DEBUG_FILE (%h host, %p pid).
#pragma once

#include <cstdint>

namespace shoal::log {

enum Level { kNone = 0, kWarn = 1, kInfo = 2, kTrace = 3 };

enum Subsys : uint32_t {
  INIT = 1u << 0,
  COLL = 1u << 1,
  BOOTSTRAP = 1u << 2,
  NET = 1u << 3,
  SHM = 1u << 4,
  UCX = 1u << 5,
  IB = 1u << 6,
  TUNING = 1u << 7,
  TOPO = 1u << 8,
  PS = 1u << 9,
  ENV = 1u << 10,
  ALL = 0xffffffffu,
};

bool enabled(Level level, uint32_t subsys);
void write(Level level, uint32_t subsys, const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 5, 6)));
// Rank shown in every line once known.
void setRank(int rank);

}  // namespace shoal::log

#define SHOAL_LOG_AT(lvl, sub, ...)                                                               \
  do {                                                                                            \
    if (::shoal::log::enabled(::shoal::log::lvl, ::shoal::log::sub))                              \
      ::shoal::log::write(::shoal::log::lvl, ::shoal::log::sub, __FILE__, __LINE__, __VA_ARGS__); \
  } while (0)
#define SHOAL_WARN(sub, ...) SHOAL_LOG_AT(kWarn, sub, __VA_ARGS__)
#define SHOAL_INFO(sub, ...) SHOAL_LOG_AT(kInfo, sub, __VA_ARGS__)
#define SHOAL_TRACE(sub, ...) SHOAL_LOG_AT(kTrace, sub, __VA_ARGS__)
