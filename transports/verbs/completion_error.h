// Turns a failed work completion into words a user can act on.
#pragma once

#include <infiniband/verbs.h>

#include "shoal/shoal.h"

namespace shoal::transport::verbs {

// shoalRemoteError when the peer or the path to it is at fault, shoalSystemError
// for local causes (and bugs).
shoalResult_t completionErrorCode(ibv_wc_status status);
// What the status usually means, in plain English.
const char* completionErrorHint(ibv_wc_status status);

}  // namespace shoal::transport::verbs
