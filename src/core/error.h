// Internal error type. The core throws shoal::Error; the C API catches it at
// the boundary and turns it into a shoalResult_t plus the last-error string.
#pragma once

#include <stdexcept>
#include <string>

#include "shoal/shoal.h"

namespace shoal {

class Error : public std::runtime_error {
 public:
  Error(shoalResult_t code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  shoalResult_t code() const { return code_; }

 private:
  shoalResult_t code_;
};

// printf-style constructors, so call sites read as one line.
[[noreturn]] void fail(shoalResult_t code, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
// Appends strerror(errno) of the failed system call.
[[noreturn]] void failErrno(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

std::string strprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace shoal
