// The communicator the training examples share: started by a launcher
// (shoalrun, mpirun, torchrun, srun) or, run by hand, a job of one rank; every
// shoal error becomes a ShoalError that names the call and says what happened.
#pragma once

#include <shoal/shoal.h>

#include <chrono>
#include <cstddef>
#include <stdexcept>

namespace train {

class ShoalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws ShoalError for anything but shoalSuccess; comm may be null.
void checkShoal(shoalResult_t r, shoalComm_t comm, const char* what);

// Whether a launcher started this process (its rank variables are set).
bool launched();

class Comm {
 public:
  Comm();   // from the launcher's environment, or a job of one rank
  ~Comm();  // aborts while an exception unwinds, so peers are not left waiting
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  void allReduce(void* buf, size_t count, shoalDataType_t type, shoalRedOp_t op, const char* what);
  void allGather(const void* send, void* recv, size_t count, shoalDataType_t type,
                 const char* what);
  void broadcast(void* buf, size_t count, shoalDataType_t type, int root, const char* what);

  shoalComm_t get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  shoalComm_t comm_ = nullptr;
  int rank_ = 0, size_ = 1;
};

inline double secondsSince(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace train
