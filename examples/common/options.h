// Command-line options shared by the training examples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/idx_dataset.h"

namespace train {

struct TrainOptions {
  std::string dataDir = kDefaultDataDir;
  size_t epochs = 5;
  size_t steps = 0;    // when set, stop after this many steps (epochs then only bounds them)
  size_t batch = 128;  // global batch, split over the ranks
  size_t hidden = 256;
  float lr = 0.1f;
  float momentum = 0.9f;
  bool cosine = true;  // learning rate follows a half cosine from lr to 0 over the run
  uint64_t seed = 1;
  size_t logEvery = 100;  // steps between progress lines
  std::string csv;        // loss curve, written by rank 0
  size_t testImages = 0;  // evaluate on the first N test images (0: all)
  bool check = false;
  size_t checkSteps = 50;  // steps compared against the single-process reference
  double checkTol = 1e-3;  // see README: relative to the reference's displacement
  std::string fault;       // deliberately break a step, to show --check catches it
};

// Parses argv into *o. Returns -1 to go on, or the exit status to return
// (0 after --help, 2 after a usage error, which it reports on stderr).
int parseOptions(int argc, char** argv, const char* program, TrainOptions* o);

}  // namespace train
