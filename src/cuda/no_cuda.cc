// cuda_api.h for builds without CUDA: queries answer "host memory, no GPU";
// anything that would touch a GPU fails naming the build option. Each CUDA
// source file that other code calls has its section here.
#include "core/error.h"
#include "cuda/cuda_api.h"
#include "cuda/gdr.h"
#include "cuda/ps_optimizer_kernels.h"
#include "cuda/reduce_kernels.h"
#include "cuda/stream_gate.h"

namespace shoal::cuda {
namespace {
[[noreturn]] void noCuda(const char* what) {
  fail(shoalInvalidUsage,
       "%s: this shoal was built without CUDA (configure with SHOAL_WITH_CUDA=ON and a CUDA "
       "toolkit)",
       what);
}
}  // namespace

// ---- runtime.cc
bool available(std::string* why) {
  if (why) *why = "shoal was built without CUDA (SHOAL_WITH_CUDA=OFF or no toolkit found)";
  return false;
}
int deviceCount() { return 0; }
MemoryKind pointerKind(const void*, int* device) {
  if (device) *device = -1;
  return MemoryKind::kHost;
}
int currentDevice() { noCuda("cudaGetDevice"); }
void setDevice(int) { noCuda("cudaSetDevice"); }
void restoreDevice(int) noexcept {}
std::string pciBusId(int) { noCuda("cudaDeviceGetPCIBusId"); }
void* deviceAlloc(size_t) { noCuda("cudaMalloc"); }
void deviceFree(void*) noexcept {}
void* deviceAllocAsync(size_t, Stream) { noCuda("cudaMallocAsync"); }
void deviceFreeAsync(void*, Stream) noexcept {}
void* pinnedAlloc(size_t) { noCuda("cudaHostAlloc"); }
void pinnedFree(void*) noexcept {}
void hostRegister(void*, size_t) { noCuda("cudaHostRegister"); }
void hostUnregister(void*) noexcept {}
Stream createStream() { noCuda("cudaStreamCreate"); }
void destroyStream(Stream) noexcept {}
void copyAsync(void*, const void*, size_t, Stream) { noCuda("cudaMemcpyAsync"); }
void memsetAsync(void*, int, size_t, Stream) { noCuda("cudaMemsetAsync"); }
void streamSync(Stream, Deadline, const char* what) { noCuda(what); }
void copy(void*, const void*, size_t) { noCuda("cudaMemcpy"); }
void ipcExport(void*, uint8_t*) { noCuda("cudaIpcGetMemHandle"); }
void* ipcOpen(const uint8_t*) { noCuda("cudaIpcOpenMemHandle"); }
void ipcClose(void*) noexcept {}
Event createEvent() { noCuda("cudaEventCreate"); }
void destroyEvent(Event) noexcept {}
void recordEvent(Event, Stream) { noCuda("cudaEventRecord"); }
bool eventDone(Event) { noCuda("cudaEventQuery"); }
void streamWaitEvent(Stream, Event) { noCuda("cudaStreamWaitEvent"); }

// ---- reduce_kernels.cu
void reduceAsync(void*, const void*, const void*, size_t, shoalDataType_t, shoalRedOp_t, Stream) {
  noCuda("GPU reduction");
}
void divideAsync(void*, size_t, shoalDataType_t, int, Stream) { noCuda("GPU average"); }

}  // namespace shoal::cuda

// ---- stream_gate.cu
namespace shoal::cuda {
StreamGate::StreamGate() { noCuda("a stream-ordered call"); }
StreamGate::~StreamGate() = default;
void StreamGate::hold(Stream, uint64_t, double) { noCuda("a stream-ordered call"); }
void StreamGate::release(uint64_t) {}
const char* StreamGate::mode(int) { return "none"; }
void* StreamGate::memopWord(int) { return nullptr; }
}  // namespace shoal::cuda

// ---- gdr.cc (GPUDirect RDMA queries answer "no" so the verbs transport stages)
namespace shoal::cuda {
bool gpuDirectRdmaSupported(int) { return false; }
bool dmabufSupported(int, std::string* why) {
  if (why) *why = "shoal was built without CUDA";
  return false;
}
int dmabufFd(const void*, size_t, size_t*) { noCuda("cuMemGetHandleForAddressRange"); }
void allocationRange(const void*, uintptr_t*, size_t*) { noCuda("cuMemGetAddressRange"); }
uint64_t allocationId(const void*) { return 0; }

}  // namespace shoal::cuda

// ---- ps_optimizer_kernels.cu
namespace shoal::cuda {
void psUpdateAsync(shoalPsUpdate_t, bool, void*, const void*, void*, size_t, shoalDataType_t,
                   double, double, Stream) {
  noCuda("GPU parameter-server update");
}
}  // namespace shoal::cuda
