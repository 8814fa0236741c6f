// Reading single images (PGM/PPM and PNG) into f32 [C, H, W] tensors in [0, 1], and the two
// image operations needed to feed them to a model trained on a fixed input shape.
#pragma once

#include <cstdint>
#include <string>

#include "heed/core/tensor.h"

namespace heed::data {

// Images wider or taller than this are rejected from their header, before pixels are allocated.
inline constexpr int64_t kMaxImageSide = 16384;

// Reads a PGM (P2 ascii, P5 binary), PPM (P3, P6) or PNG file, chosen by its magic bytes, as
// f32 [C, H, W] with values in [0, 1] (sample / maxval for netpbm, sample / 255 for PNG).
// Grey images give C = 1, colour images C = 3. PNG: palettes are expanded, 1/2/4-bit grey is
// scaled to 8 bits, 16-bit samples are rounded to 8 bits, and alpha (an alpha channel or tRNS)
// is dropped, not composited. Gamma chunks are ignored: the stored samples are returned.
// Throws heed::Error naming the file on unknown formats, malformed or truncated data, samples
// above maxval, trailing bytes after a netpbm raster, and images over kMaxImageSide.
Tensor read_image(const std::string& path);

// ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B) of a [3, H, W] image as [1, H, W];
// a [1, H, W] image is returned as a copy.
Tensor to_grayscale(const Tensor& chw);

// Bilinear resize of [C, H, W] to [C, h, w] with half-pixel centres and edge clamping, the same
// sampling as PyTorch's interpolate(mode="bilinear", align_corners=False, antialias=False).
Tensor resize_bilinear(const Tensor& chw, int64_t h, int64_t w);

}  // namespace heed::data
