#include "core/stream_proxy.h"

#include <sched.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"

namespace shoal {
namespace {}  // namespace

StreamProxy::StreamProxy(shoalComm* comm) : comm_(comm) {
  thread_ = std::thread([this] { loop(); });
}

StreamProxy::~StreamProxy() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StreamProxy::enqueue(const StreamCall& call, cuda::Stream stream) {
  cuda::DeviceScope scope(call.device);  // enqueueing must not change the caller's GPU
  if (call.device >= 0 && !comm_->executor->deviceReady(call.device)) {
    // Pinning the staging memory waits for every stream of the GPU, so it
    // must not happen while a call of ours holds one: first drain, then set
    // it up here, before this call parks the caller's stream.
    drain(Deadline::after(comm_->timeoutSeconds));
    comm_->executor->prepareDevice(call.device);
  }
  if (call.device >= 0 && comm_->executor->peerSlotsToMap()) {
    // Peers' GPU slots (CUDA IPC) are mapped likewise, once, while idle.
    drain(Deadline::after(comm_->timeoutSeconds));
    comm_->executor->mapPeerSlots();
  }
  Item item{call, cuda::createEvent(), 0};
  try {
    cuda::recordEvent(item.ready, stream);
    std::lock_guard<std::mutex> lock(mu_);
    item.ticket = ++tickets_;
    gate_.hold(stream, item.ticket, gateSeconds());
    queue_.push_back(item);
  } catch (...) {
    cuda::destroyEvent(item.ready);
    throw;
  }
  cv_.notify_all();
}

// Past the call's own deadline (and one for waiting on the stream before it).
double StreamProxy::gateSeconds() const { return comm_->timeoutSeconds * 2 + 30; }

void StreamProxy::drain(Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_until(lock, deadline.at(), [&] { return queue_.empty() && !busy_; })) {
    fail(shoalTimeout,
         "rank %d: %zu stream-ordered call(s) still queued at the deadline (is the stream "
         "blocked by other work?)",
         comm_->rank, queue_.size() + (busy_ ? 1 : 0));
  }
}

shoalResult_t StreamProxy::asyncError(std::string* message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (message) *message = errorText_;
  return error_;
}

void StreamProxy::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ with nothing left
    Item item = queue_.front();
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    runOne(item);
    gate_.release(item.ticket);
    cuda::destroyEvent(item.ready);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

void StreamProxy::runOne(const Item& item) {
  const StreamCall& c = item.call;
  const char* name = collName(c.kind);
  try {
    if (c.device >= 0) cuda::setDevice(c.device);
    // The inputs are ready when the stream reaches the event.
    Deadline deadline = Deadline::after(comm_->timeoutSeconds);
    for (int i = 0; !cuda::eventDone(item.ready); ++i) {
      if ((i & 255) == 255) {
        if (comm_->aborted.load()) {
          fail(shoalInvalidUsage, "rank %d: %s: aborted by shoalCommAbort before it started",
               comm_->rank, name);
        }
        if (deadline.expired()) {
          fail(shoalTimeout,
               "rank %d: %s: the stream did not reach this call within %.1f s (work queued "
               "before it on the stream never finished)",
               comm_->rank, name, comm_->timeoutSeconds);
        }
      }
      sched_yield();
    }
    commCollective(comm_, c.kind, c.send, c.recv, c.count, c.dtype, c.op, c.root, c.device);
  } catch (const Error& e) {
    SHOAL_WARN(COLL, "rank %d: stream-ordered %s failed: %s", comm_->rank, name, e.what());
    std::lock_guard<std::mutex> lock(mu_);
    if (error_ == shoalSuccess) {
      error_ = e.code();
      errorText_ = e.what();
    }
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_ == shoalSuccess) {
      error_ = shoalInternalError;
      errorText_ =
          strprintf("rank %d: stream-ordered %s: internal error: %s", comm_->rank, name, e.what());
    }
  }
}

}  // namespace shoal
