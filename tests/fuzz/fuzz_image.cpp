// libFuzzer target: heed::data::read_image (PGM/PPM P2 P3 P5 P6 and PNG) on the input bytes,
// then what `heed predict` does with an image: to_grayscale and resize_bilinear to 8x8.
//
// read_image takes a path, so each input is written to an in-memory file (memfd_create, opened by
// the readers as /proc/self/fd/<n>; no disk writes, which on ext4 cost ~3 ms per input) or, where
// memfd is unavailable, to one per-process file under $TMPDIR (or /tmp) removed at exit.
// Expected outcomes: success or heed::Error; anything else is a bug.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "heed/core/error.h"
#include "heed/data/image_file.h"
#include "input_file.h"

namespace {

using heed::fuzz::InputFile;

// Static, so that a temporary file is removed when libFuzzer exits.
InputFile& input_file() {
  static InputFile file("image");
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  input_file().write(data, size);
  try {
    const heed::Tensor image = heed::data::read_image(input_file().path());
    if (image.dim() != 3 || (image.size(0) != 1 && image.size(0) != 3) || image.size(1) < 1 ||
        image.size(2) < 1 || image.size(1) > heed::data::kMaxImageSide ||
        image.size(2) > heed::data::kMaxImageSide)
      __builtin_trap();
    const heed::Tensor grey = heed::data::to_grayscale(image);
    const heed::Tensor small = heed::data::resize_bilinear(grey, 8, 8);
    // Samples are in [0, 1], and so are their convex combinations.
    for (float v : small.to_vector())
      if (!(v >= -1e-6f && v <= 1.0f + 1e-6f)) __builtin_trap();
  } catch (const heed::Error&) {
    // Rejected with a message: the expected outcome for a hostile file.
  }
  return 0;
}
