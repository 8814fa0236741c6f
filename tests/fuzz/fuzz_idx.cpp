// libFuzzer target: heed::data::read_idx (raw and gzip IDX files) on the input bytes.
//
// read_idx takes a path, so each input is written to an in-memory file (memfd_create, opened by
// the reader as /proc/self/fd/<n>; no disk writes, which on ext4 cost ~3 ms per input) or, where
// memfd is unavailable, to one per-process file under $TMPDIR (or /tmp), removed at exit.
// An image array ([N, H, W] or [N, H, W, C]) that reads back is also turned into an image set
// (load_idx_images, with a generated label file): the NCHW conversion the trainer uses.
// Expected outcomes: success or heed::Error; anything else is a bug.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "heed/core/error.h"
#include "heed/data/idx.h"
#include "input_file.h"

namespace {

using heed::fuzz::InputFile;

// Static, so that a temporary file is removed when libFuzzer exits.
InputFile& input_file() {
  static InputFile file("idx");
  return file;
}
InputFile& labels_file() {
  static InputFile file("idx_labels");
  return file;
}

std::vector<uint8_t> idx_bytes(const std::vector<int64_t>& dims, const uint8_t* payload,
                               size_t size) {
  std::vector<uint8_t> out = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (int64_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
  out.insert(out.end(), payload, payload + size);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  input_file().write(data, size);
  const std::string& input_path = input_file().path();
  try {
    const heed::data::IdxArray array = heed::data::read_idx(input_path);
    size_t expected = 1;
    for (int64_t d : array.dims) {
      if (d <= 0) __builtin_trap();
      expected *= static_cast<size_t>(d);
    }
    if (array.dims.empty() || array.dims.size() > 4 || array.data.size() != expected)
      __builtin_trap();
    // Image arrays up to 1 MiB: build a set with one label per image (labels from the pixels).
    if ((array.dims.size() == 3 || array.dims.size() == 4) && expected <= (size_t{1} << 20)) {
      const int64_t n = array.dims[0];
      std::vector<uint8_t> labels(static_cast<size_t>(n));
      for (size_t i = 0; i < labels.size(); ++i) labels[i] = array.data[i % array.data.size()];
      const std::vector<uint8_t> file = idx_bytes({n}, labels.data(), labels.size());
      labels_file().write(file.data(), file.size());
      const heed::data::ImageSet set = heed::data::load_idx_images(input_path, labels_file().path());
      if (set.images.size(0) != n || set.labels.size(0) != n || set.num_classes < 1 ||
          set.num_classes > 256)
        __builtin_trap();
    }
  } catch (const heed::Error&) {
    // Rejected with a message: the expected outcome for a hostile file.
  }
  return 0;
}
