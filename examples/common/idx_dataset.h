// Fashion-MNIST (and MNIST) in the IDX format: big-endian magic
// (0x00000803 images, 0x00000801 labels), big-endian dimensions, then one
// unsigned byte per pixel or label. The files are read gzipped, as Debian's
// dataset-fashion-mnist ships them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace train {

// Thrown for a missing, unreadable or malformed data file; the message names
// the file and what is wrong with it.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Dataset {
  size_t count = 0;
  size_t rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, row-major per image
  std::vector<uint8_t> labels;  // count, each < kClasses

  static constexpr int kClasses = 10;
  size_t features() const { return rows * cols; }
  const uint8_t* image(size_t i) const { return pixels.data() + i * features(); }
};

// Drops every image after the first n (nothing when n is 0 or covers them all).
inline void keepFirst(Dataset* d, size_t n) {
  if (n == 0 || n >= d->count) return;
  d->count = n;
  d->pixels.resize(n * d->features());
  d->labels.resize(n);
}

// Debian's location of dataset-fashion-mnist.
inline constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

// Reads one images file and its labels file and checks that they agree.
Dataset loadIdxPair(const std::string& imagesPath, const std::string& labelsPath);

// DIR/train-images-idx3-ubyte.gz + DIR/train-labels-idx1-ubyte.gz (train) or
// the t10k-* pair (test).
Dataset loadFashionMnist(const std::string& dir, bool train);

}  // namespace train
