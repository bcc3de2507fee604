// What rank 0 reports while training: a progress line every few steps on
// stdout and, with --csv, one CSV row per step (training loss) and per
// evaluation (test loss), which examples/plot_loss.py draws.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace train {

class LossLog {
 public:
  // Opens csvPath (none when empty); throws std::runtime_error naming the
  // file and the system's reason when it cannot.
  LossLog(const std::string& csvPath, size_t stepsPerEpoch, size_t logEvery);
  ~LossLog();
  LossLog(const LossLog&) = delete;
  LossLog& operator=(const LossLog&) = delete;

  // One finished step (global, 0-based): the batch's summed loss and correct
  // count, the wall-clock seconds since training began and the part of it
  // spent in the gradient all-reduce.
  void step(size_t globalStep, size_t samples, double lossSum, double correct, double elapsed,
            double commSeconds);

  // A test-set evaluation after globalStep steps.
  void test(size_t globalStep, size_t samples, double lossSum, double correct, double elapsed);

 private:
  void writeRow(size_t globalStep, const char* split, double loss, double accuracy, double elapsed,
                double comm);

  FILE* csv_ = nullptr;
  std::string path_;
  size_t stepsPerEpoch_, logEvery_;
  // Sums since the last progress line.
  size_t steps_ = 0, samples_ = 0;
  double loss_ = 0, correct_ = 0, lastElapsed_ = 0, lastComm_ = 0;
};

}  // namespace train
