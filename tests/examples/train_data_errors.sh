#!/bin/bash
# train_allreduce with missing, garbage and truncated data files: exit status
# 1 and a message naming the file and what is wrong; with a small valid data
# set given by --data it trains. Generates its own files, needs no data set.
#   train_data_errors.sh TRAIN_ALLREDUCE OUTDIR
set -uo pipefail
train=$1 out=$2
rm -rf "$out" && mkdir -p "$out"
status=0
byte() { printf "$(printf '\\%03o' "$1")"; }
be32() { byte $(($1 >> 24 & 255)); byte $(($1 >> 16 & 255)); byte $(($1 >> 8 & 255)); byte $(($1 & 255)); }
images() {  # count, then pixel bytes on stdin
  printf '\x00\x00\x08\x03'; be32 "$1"; be32 28; be32 28; cat
}
labels() {  # count: labels i % 10
  printf '\x00\x00\x08\x01'; be32 "$1"
  for ((i = 0; i < $1; ++i)); do byte $((i % 10)); done
}
valid_set() {  # dir: 64 training and 16 test images
  mkdir -p "$1"
  head -c $((64 * 784)) /dev/urandom | images 64 | gzip >"$1/train-images-idx3-ubyte.gz"
  labels 64 | gzip >"$1/train-labels-idx1-ubyte.gz"
  head -c $((16 * 784)) /dev/urandom | images 16 | gzip >"$1/t10k-images-idx3-ubyte.gz"
  labels 16 | gzip >"$1/t10k-labels-idx1-ubyte.gz"
}
expect() {  # name, expected message fragment, data dir
  local log=$out/$1.log
  env -u SHOAL_RANK -u OMPI_COMM_WORLD_RANK -u RANK -u SLURM_PROCID "$train" --data "$3" --steps 2 >"$log" 2>&1
  local rc=$?
  cat "$log"
  if [ $rc -ne 1 ]; then
    echo "FAIL: $1: exit status $rc, expected 1"
    status=1
  elif ! grep -qF -- "$2" "$log"; then
    echo "FAIL: $1: no message '$2'"
    status=1
  else
    echo "PASS: $1"
  fi
}

expect missing "$out/none/train-images-idx3-ubyte.gz: cannot open: No such file or directory" \
  "$out/none"

valid_set "$out/garbage"
echo "this is not an image file" | gzip >"$out/garbage/train-images-idx3-ubyte.gz"
expect garbage "$out/garbage/train-images-idx3-ubyte.gz: not an IDX image file: magic number is 0x74686973" \
  "$out/garbage"

valid_set "$out/short"
head -c 1000 /dev/urandom | images 60000 | gzip >"$out/short/train-images-idx3-ubyte.gz"
expect short "$out/short/train-images-idx3-ubyte.gz: truncated: the pixels needs 47040000 bytes but the file ends after 1000 of them" \
  "$out/short"

valid_set "$out/cut"
head -c $((64 * 784)) /dev/urandom | images 64 | gzip >"$out/cut/full.gz"
head -c 20000 "$out/cut/full.gz" >"$out/cut/t10k-images-idx3-ubyte.gz"
expect cut "$out/cut/t10k-images-idx3-ubyte.gz: truncated: the pixels needs 50176 bytes" \
  "$out/cut"

valid_set "$out/mismatch"
labels 63 | gzip >"$out/mismatch/train-labels-idx1-ubyte.gz"
expect mismatch "train-labels-idx1-ubyte.gz: holds 63 labels but" "$out/mismatch"

valid_set "$out/valid"
log=$out/valid.log
env -u SHOAL_RANK -u OMPI_COMM_WORLD_RANK -u RANK -u SLURM_PROCID "$train" --data "$out/valid" --batch 16 --steps 4 --check >"$log" 2>&1
rc=$?
cat "$log"
if [ $rc -ne 0 ] || ! grep -q "test after step 4: .* (16 images)" "$log"; then
  echo "FAIL: valid: a small valid data set did not train (status $rc)"
  status=1
else
  echo "PASS: valid"
fi
exit $status
