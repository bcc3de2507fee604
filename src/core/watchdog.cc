#include "core/watchdog.h"

#include "core/config.h"

namespace shoal {

Watchdog::Watchdog() : seconds_(config::getDouble("SHOAL_WATCHDOG")) {}

}  // namespace shoal
