#include "transports/verbs/completion_error.h"

namespace shoal::transport::verbs {

shoalResult_t completionErrorCode(ibv_wc_status status) {
  switch (status) {
    case IBV_WC_RETRY_EXC_ERR:
    case IBV_WC_RNR_RETRY_EXC_ERR:
    case IBV_WC_REM_ACCESS_ERR:
    case IBV_WC_REM_INV_REQ_ERR:
    case IBV_WC_REM_OP_ERR:
    case IBV_WC_REM_ABORT_ERR:
    case IBV_WC_RESP_TIMEOUT_ERR:
    case IBV_WC_WR_FLUSH_ERR:
      return shoalRemoteError;
    default:
      return shoalSystemError;
  }
}

const char* completionErrorHint(ibv_wc_status status) {
  switch (status) {
    case IBV_WC_RETRY_EXC_ERR:
      return "the peer stopped answering: its process died, or the link or a switch is down "
             "(SHOAL_IB_TIMEOUT and SHOAL_IB_RETRY_CNT set how long it is retried)";
    case IBV_WC_RNR_RETRY_EXC_ERR:
      return "the peer had no receive posted for too long: it stopped polling or is overloaded";
    case IBV_WC_REM_ACCESS_ERR:
      return "remote access error: the target address or rkey is not registered for writing on "
             "the peer (a registration bug, or a key from a buffer that was released)";
    case IBV_WC_REM_INV_REQ_ERR:
      return "the peer rejected the request as invalid (message larger than its receive buffer, "
             "or a length/opcode it does not accept)";
    case IBV_WC_REM_OP_ERR:
      return "the peer failed to carry out the operation (its queue pair is in error)";
    case IBV_WC_LOC_PROT_ERR:
      return "local protection error: the source memory is not covered by a registration of "
             "this protection domain (a registration bug)";
    case IBV_WC_LOC_LEN_ERR:
      return "local length error: a received message did not fit the posted receive buffer";
    case IBV_WC_LOC_QP_OP_ERR:
      return "local queue pair error: the work request is inconsistent with the queue pair";
    case IBV_WC_WR_FLUSH_ERR:
      return "the connection's queue pair entered the error state and its work was flushed; the "
             "cause is the first error on this connection, here or on the peer";
    case IBV_WC_MW_BIND_ERR:
    case IBV_WC_BAD_RESP_ERR:
      return "the adapter reported a protocol failure";
    case IBV_WC_FATAL_ERR:
      return "the adapter reported a fatal error; check dmesg";
    default:
      return "see the adapter's documentation for this status";
  }
}

}  // namespace shoal::transport::verbs
