# Sourced by the training-run tests: sets $data to the Fashion-MNIST folder
# (SHOAL_TRAIN_DATA, or where the Debian package installs it) and skips the
# test (exit status 77) when the data set is not there.
data=${SHOAL_TRAIN_DATA:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
  echo "SKIP: Fashion-MNIST not found in $data (apt-get install dataset-fashion-mnist)"
  exit 77
fi
