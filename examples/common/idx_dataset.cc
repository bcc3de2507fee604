#include "common/idx_dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace train {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte, 1 dimension
// Far above any real IDX data set; stops a corrupt header from asking for
// terabytes before the truncation check could say what is wrong.
constexpr uint64_t kMaxBytes = uint64_t{1} << 32;

// gzread on a file that is not gzip-compressed reads it as is, so plain IDX
// files load too; a damaged gzip stream shows up as a gzerror.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) {
      throw DataError(path + ": cannot open: " +
                      (errno ? std::strerror(errno) : "zlib could not allocate its state"));
    }
  }
  ~GzFile() {
    if (file_ != nullptr) gzclose(file_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads exactly n bytes; `what` says which part of the file they are.
  void read(void* dst, uint64_t n, const char* what) {
    auto* p = static_cast<unsigned char*>(dst);
    uint64_t done = 0;
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - done, 1u << 30));
      const int got = gzread(file_, p + done, chunk);
      if (got > 0) {
        done += static_cast<uint64_t>(got);
        continue;
      }
      // End of file, or (Z_BUF_ERROR) a gzip stream that stops mid-way.
      int code = Z_OK;
      const char* msg = gzerror(file_, &code);
      if (got < 0 && code != Z_BUF_ERROR) fail(what);
      throw DataError(path_ + ": truncated: " + what + " needs " + std::to_string(n) +
                      " bytes but the file ends after " + std::to_string(done) + " of them" +
                      (code != Z_OK ? " (zlib: " + zlibMessage(msg) + ")" : ""));
    }
  }

  uint32_t readBigEndian32(const char* what) {
    unsigned char b[4];
    read(b, 4, what);
    return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
  }

  // Trailing bytes mean the header's counts do not describe the file.
  void expectEnd() {
    unsigned char extra;
    const int got = gzread(file_, &extra, 1);
    if (got < 0) fail("end of data");
    if (got > 0)
      throw DataError(path_ + ": malformed: bytes left after the data the header describes");
  }

  const std::string& path() const { return path_; }

 private:
  // gzerror's text starts with the path, which our messages already name.
  std::string zlibMessage(const char* msg) const {
    std::string m = msg && *msg ? msg : "zlib error";
    if (m.rfind(path_ + ": ", 0) == 0) m.erase(0, path_.size() + 2);
    return m;
  }

  [[noreturn]] void fail(const char* what) {
    int code = Z_OK;
    const char* msg = gzerror(file_, &code);
    throw DataError(path_ + ": cannot read " + what + ": " +
                    (code == Z_ERRNO ? std::strerror(errno) : zlibMessage(msg)));
  }

  std::string path_;
  gzFile file_ = nullptr;
};

std::string hex(uint32_t v) {
  char buf[16];
  snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

Dataset loadIdxPair(const std::string& imagesPath, const std::string& labelsPath) {
  Dataset d;
  {
    GzFile f(imagesPath);
    const uint32_t magic = f.readBigEndian32("the magic number");
    if (magic != kImagesMagic) {
      throw DataError(imagesPath + ": not an IDX image file: magic number is " + hex(magic) +
                      ", expected " + hex(kImagesMagic) + " (unsigned bytes, 3 dimensions)");
    }
    d.count = f.readBigEndian32("the image count");
    d.rows = f.readBigEndian32("the row count");
    d.cols = f.readBigEndian32("the column count");
    if (d.count == 0 || d.rows == 0 || d.cols == 0 ||
        uint64_t{d.count} * d.rows * d.cols > kMaxBytes) {
      throw DataError(imagesPath + ": malformed header: " + std::to_string(d.count) +
                      " images of " + std::to_string(d.rows) + "x" + std::to_string(d.cols) +
                      " pixels");
    }
    d.pixels.resize(d.count * d.rows * d.cols);
    f.read(d.pixels.data(), d.pixels.size(), "the pixels");
    f.expectEnd();
  }
  {
    GzFile f(labelsPath);
    const uint32_t magic = f.readBigEndian32("the magic number");
    if (magic != kLabelsMagic) {
      throw DataError(labelsPath + ": not an IDX label file: magic number is " + hex(magic) +
                      ", expected " + hex(kLabelsMagic) + " (unsigned bytes, 1 dimension)");
    }
    const uint32_t n = f.readBigEndian32("the label count");
    if (n != d.count) {
      throw DataError(labelsPath + ": holds " + std::to_string(n) + " labels but " + imagesPath +
                      " holds " + std::to_string(d.count) + " images");
    }
    d.labels.resize(n);
    f.read(d.labels.data(), n, "the labels");
    f.expectEnd();
    for (size_t i = 0; i < n; ++i) {
      if (d.labels[i] >= Dataset::kClasses) {
        throw DataError(labelsPath + ": malformed: label " + std::to_string(i) + " is " +
                        std::to_string(d.labels[i]) + ", expected 0.." +
                        std::to_string(Dataset::kClasses - 1));
      }
    }
  }
  return d;
}

Dataset loadFashionMnist(const std::string& dir, bool train) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  return loadIdxPair(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz");
}

}  // namespace train
