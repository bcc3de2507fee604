// One UCP context and worker per communicator; an endpoint per peer. See
// pair.cc for how a write's notification is kept behind its data.
#pragma once

#include <ucp/api/ucp.h>

#include <memory>
#include <string>
#include <vector>

#include "transports/context.h"
#include "transports/ucx/event_queue.h"
#include "transports/ucx/pair.h"
#include "transports/ucx/ucp_library.h"

namespace shoal::transport::ucx {

class UcxContext : public Context {
 public:
  UcxContext(int rank, int size);
  ~UcxContext() override;
  UcxContext(const UcxContext&) = delete;
  UcxContext& operator=(const UcxContext&) = delete;

  const char* name() const override { return "ucx"; }
  std::unique_ptr<Buffer> allocate(size_t bytes) override;
  std::unique_ptr<Buffer> registerMemory(void* ptr, size_t bytes) override;
  void connect(Bootstrap& bootstrap, Deadline deadline) override;
  Pair& pair(int peer) override;
  size_t poll(Event* events, size_t max) override;

  // For the pairs and the receive callback.
  ucp_worker_h worker() const { return worker_; }
  EventQueue& events() { return events_; }
  UcpLibrary& library() { return *lib_; }
  void markReady(UcxPair* pair);
  // A pair whose endpoint failed: closed right after the progress call that
  // reported it.
  void markFailed(UcxPair* pair) { failed_.push_back(pair); }
  void progress();

 private:
  static ucs_status_t onActiveMessage(void* arg, const void* header, size_t headerLength,
                                      void* data, size_t length, const ucp_am_recv_param_t* param);
  void waitConnected(Bootstrap& bootstrap, Deadline deadline);
  void waitHandshake(Bootstrap& bootstrap, Deadline deadline, MsgKind kind);
  void shutdown();
  void quiesce() override { shutdown(); }

  std::shared_ptr<UcpLibrary> lib_;
  ucp_worker_h worker_ = nullptr;
  EventQueue events_;
  std::vector<std::unique_ptr<UcxPair>> pairs_;
  std::vector<UcxPair*> ready_;   // pairs with notifications to issue after progress
  std::vector<UcxPair*> failed_;  // pairs whose failed endpoint is still open
  std::vector<bool> helloFrom_;   // connect handshake messages received, by rank
  std::vector<bool> readyFrom_;
  bool connected_ = false;
};

}  // namespace shoal::transport::ucx
