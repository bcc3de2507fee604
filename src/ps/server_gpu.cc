#include "ps/server_gpu.h"

#include <string>

#include "core/deadline.h"
#include "core/error.h"
#include "core/log.h"
#include "core/reduce.h"
#include "cuda/ps_optimizer_kernels.h"

namespace shoal::ps {

GpuStore::GpuStore(int rank, int device, double timeoutSeconds)
    : rank_(rank), device_(device), timeout_(timeoutSeconds) {
  cuda::setDevice(device_);
  stream_ = cuda::createStream();
  SHOAL_INFO(PS, "rank %d: ps server: partitions in the memory of GPU %d (%s)", rank_, device_,
             cuda::pciBusId(device_).c_str());
}

GpuStore::~GpuStore() { cuda::destroyStream(stream_); }

GpuStore::Part::~Part() {
  cuda::deviceFree(value);
  cuda::deviceFree(accum);
  cuda::deviceFree(state);
  cuda::pinnedFree(pullCopy);
}

void GpuStore::wait(const char* what) {
  try {
    cuda::streamSync(stream_, Deadline::after(timeout_), what);
  } catch (const Error& e) {
    fail(e.code(), "rank %d: ps server: GPU %d: %s", rank_, device_, e.what());
  }
}

std::unique_ptr<GpuStore::Part> GpuStore::createPart(size_t bytes, bool accum, bool state) {
  cuda::setDevice(device_);
  auto p = std::make_unique<Part>();
  p->bytes = bytes;
  p->value = cuda::deviceAlloc(bytes);
  cuda::memsetAsync(p->value, 0, bytes, stream_);
  if (accum) p->accum = cuda::deviceAlloc(bytes);
  if (state) {
    p->state = cuda::deviceAlloc(bytes);
    cuda::memsetAsync(p->state, 0, bytes, stream_);
  }
  p->pullCopy = cuda::pinnedAlloc(bytes);
  wait("zero-filling a new partition");
  return p;
}

GpuStore::Mapping::~Mapping() { cuda::hostUnregister(p_); }

std::unique_ptr<GpuStore::Mapping> GpuStore::map(void* p, size_t bytes) {
  cuda::setDevice(device_);
  cuda::hostRegister(p, bytes);
  return std::make_unique<Mapping>(p);
}

void GpuStore::update(const UpdateRule& rule, bool replace, void* value, const void* g, void* state,
                      size_t count, shoalDataType_t dtype, const char* what) {
  cuda::setDevice(device_);
  cuda::psUpdateAsync(rule.kind, replace, value, g, state, count, dtype, rule.learningRate,
                      rule.momentum, stream_);
  wait(what);
}

const void* GpuStore::forPull(Part& p, uint64_t version) {
  if (p.copiedVersion != version) {
    cuda::setDevice(device_);
    cuda::copyAsync(p.pullCopy, p.value, p.bytes, stream_);
    wait("copying a value out for pull answers");
    p.copiedVersion = version;
  }
  return p.pullCopy;
}

}  // namespace shoal::ps
