// The Fashion-MNIST loader on IDX files written here: exact contents of a
// valid pair (gzipped and plain), and a clear DataError, naming the file and
// the defect, for each kind of damage.
#include "common/idx_dataset.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace train {
namespace {

std::vector<uint8_t> be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

std::vector<uint8_t> imagesFile(uint32_t count, uint32_t rows, uint32_t cols,
                                const std::vector<uint8_t>& pixels, uint32_t magic = 0x803) {
  std::vector<uint8_t> f;
  for (uint32_t v : {magic, count, rows, cols}) {
    auto b = be32(v);
    f.insert(f.end(), b.begin(), b.end());
  }
  f.insert(f.end(), pixels.begin(), pixels.end());
  return f;
}

std::vector<uint8_t> labelsFile(uint32_t count, const std::vector<uint8_t>& labels,
                                uint32_t magic = 0x801) {
  std::vector<uint8_t> f;
  for (uint32_t v : {magic, count}) {
    auto b = be32(v);
    f.insert(f.end(), b.begin(), b.end());
  }
  f.insert(f.end(), labels.begin(), labels.end());
  return f;
}

class IdxDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/shoal_idx_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // 3 images of 2x4 pixels with distinct values, labels 7, 0, 9.
    for (int i = 0; i < 3 * 8; ++i) pixels_.push_back(static_cast<uint8_t>(i * 10 + 3));
    labels_ = {7, 0, 9};
  }
  void TearDown() override {
    for (const auto& p : written_) unlink(p.c_str());
    rmdir(dir_.c_str());
  }

  std::string write(const std::string& name, const std::vector<uint8_t>& bytes, bool gzip) {
    const std::string path = dir_ + "/" + name;
    written_.push_back(path);
    if (gzip) {
      gzFile f = gzopen(path.c_str(), "wb");
      EXPECT_NE(f, nullptr);
      EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
                static_cast<int>(bytes.size()));
      EXPECT_EQ(gzclose(f), Z_OK);
    } else {
      FILE* f = fopen(path.c_str(), "wb");
      EXPECT_NE(f, nullptr);
      EXPECT_EQ(fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
      fclose(f);
    }
    return path;
  }

  // Loads and expects a DataError whose message holds every fragment.
  void expectError(const std::string& images, const std::string& labels,
                   const std::vector<std::string>& fragments) {
    try {
      loadIdxPair(images, labels);
      ADD_FAILURE() << "no error for " << images << " + " << labels;
    } catch (const DataError& e) {
      for (const auto& f : fragments) {
        EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
            << "message '" << e.what() << "' lacks '" << f << "'";
      }
    }
  }

  std::string dir_;
  std::vector<std::string> written_;
  std::vector<uint8_t> pixels_, labels_;
};

TEST_F(IdxDatasetTest, ReadsGzippedPairExactly) {
  const auto img = write("img.gz", imagesFile(3, 2, 4, pixels_), true);
  const auto lab = write("lab.gz", labelsFile(3, labels_), true);
  const Dataset d = loadIdxPair(img, lab);
  EXPECT_EQ(d.count, 3u);
  EXPECT_EQ(d.rows, 2u);
  EXPECT_EQ(d.cols, 4u);
  EXPECT_EQ(d.features(), 8u);
  EXPECT_EQ(d.pixels, pixels_);
  EXPECT_EQ(d.labels, labels_);
  EXPECT_EQ(d.image(2)[5], pixels_[2 * 8 + 5]);
}

TEST_F(IdxDatasetTest, ReadsUncompressedPairToo) {
  const auto img = write("img", imagesFile(3, 2, 4, pixels_), false);
  const auto lab = write("lab", labelsFile(3, labels_), false);
  const Dataset d = loadIdxPair(img, lab);
  EXPECT_EQ(d.pixels, pixels_);
  EXPECT_EQ(d.labels, labels_);
}

TEST_F(IdxDatasetTest, MissingFileNamesPathAndReason) {
  const auto lab = write("lab.gz", labelsFile(3, labels_), true);
  expectError(dir_ + "/nope.gz", lab, {dir_ + "/nope.gz", "cannot open", "No such file"});
}

TEST_F(IdxDatasetTest, GarbageIsNotAnIdxFile) {
  const auto img = write("img.gz", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}, false);
  const auto lab = write("lab.gz", labelsFile(3, labels_), true);
  expectError(img, lab, {img, "not an IDX image file", "0x68656c6c"});
}

TEST_F(IdxDatasetTest, LabelsFileGivenAsImagesIsRejected) {
  const auto lab = write("lab.gz", labelsFile(3, labels_), true);
  expectError(lab, lab, {lab, "not an IDX image file", "0x00000801"});
}

TEST_F(IdxDatasetTest, TruncatedPixelsAreReported) {
  std::vector<uint8_t> shortPixels(pixels_.begin(), pixels_.end() - 5);
  const auto img = write("img.gz", imagesFile(3, 2, 4, shortPixels), true);
  const auto lab = write("lab.gz", labelsFile(3, labels_), true);
  expectError(img, lab, {img, "truncated", "the pixels needs 24 bytes", "ends after 19 of them"});
}

TEST_F(IdxDatasetTest, TruncatedHeaderIsReported) {
  auto bytes = imagesFile(3, 2, 4, pixels_);
  bytes.resize(10);
  const auto img = write("img.gz", bytes, true);
  const auto lab = write("lab.gz", labelsFile(3, labels_), true);
  expectError(img, lab, {img, "truncated", "the row count"});
}

TEST_F(IdxDatasetTest, CutGzipStreamIsReported) {
  // A real-sized gzip stream cut in the middle, as an interrupted download.
  std::vector<uint8_t> many(200000);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<uint8_t>((i * 7919) >> 3);
  const auto full = write("full.gz", imagesFile(2500, 8, 10, many), true);
  FILE* f = fopen(full.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::vector<uint8_t> gz(1 << 20);
  gz.resize(fread(gz.data(), 1, gz.size(), f));
  fclose(f);
  ASSERT_GT(gz.size(), 100u);
  gz.resize(gz.size() / 2);
  const auto img = write("cut.gz", gz, false);
  const auto lab = write("lab.gz", labelsFile(2500, std::vector<uint8_t>(2500, 1)), true);
  expectError(img, lab, {img, "truncated", "the pixels"});
}

TEST_F(IdxDatasetTest, CorruptGzipIsReported) {
  const auto good = write("good.gz", imagesFile(3, 2, 4, pixels_), true);
  FILE* f = fopen(good.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::vector<uint8_t> gz(4096);
  gz.resize(fread(gz.data(), 1, gz.size(), f));
  fclose(f);
  // The last 8 bytes are the CRC-32 and length of the data: damage the CRC.
  ASSERT_GT(gz.size(), 8u);
  gz[gz.size() - 8] ^= 0xff;
  const auto img = write("bad.gz", gz, false);
  const auto lab = write("lab.gz", labelsFile(3, labels_), true);
  expectError(img, lab, {img, "cannot read", "incorrect data check"});
}

TEST_F(IdxDatasetTest, TrailingBytesAreReported) {
  auto bytes = imagesFile(2, 2, 4, pixels_);  // header says 2 images, 3 follow
  const auto img = write("img.gz", bytes, true);
  const auto lab = write("lab.gz", labelsFile(2, {7, 0}), true);
  expectError(img, lab, {img, "bytes left after the data"});
}

TEST_F(IdxDatasetTest, ZeroDimensionIsReported) {
  const auto img = write("img.gz", imagesFile(3, 0, 4, {}), true);
  const auto lab = write("lab.gz", labelsFile(3, labels_), true);
  expectError(img, lab, {img, "malformed header", "3 images of 0x4"});
}

TEST_F(IdxDatasetTest, CountMismatchNamesBothFiles) {
  const auto img = write("img.gz", imagesFile(3, 2, 4, pixels_), true);
  const auto lab = write("lab.gz", labelsFile(2, {7, 0}), true);
  expectError(img, lab, {lab, "holds 2 labels", img, "holds 3 images"});
}

TEST_F(IdxDatasetTest, OutOfRangeLabelIsReported) {
  const auto img = write("img.gz", imagesFile(3, 2, 4, pixels_), true);
  const auto lab = write("lab.gz", labelsFile(3, {7, 12, 9}), true);
  expectError(img, lab, {lab, "label 1 is 12"});
}

TEST_F(IdxDatasetTest, FashionMnistNamesFilesInDir) {
  expectError(dir_ + "/train-images-idx3-ubyte.gz", dir_ + "/train-labels-idx1-ubyte.gz",
              {"train-images-idx3-ubyte.gz", "cannot open"});
  try {
    loadFashionMnist(dir_, false);
    ADD_FAILURE() << "no error for an empty directory";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + "/t10k-images-idx3-ubyte.gz"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace train
