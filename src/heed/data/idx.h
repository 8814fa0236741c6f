// IDX files (the MNIST / Fashion-MNIST container) and image-classification sets built from them.
//
// IDX layout: magic 00 00 <type> <ndims>, then ndims big-endian uint32 dimensions, then the
// payload in row-major order. Only type 0x08 (unsigned byte) is used by image sets and only it is
// accepted. Files may be gzip-compressed (detected by the 1f 8b magic, not by the file name).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/core/tensor.h"

namespace heed::data {

// Payloads larger than this are rejected from the header alone, before anything is allocated.
inline constexpr uint64_t kMaxIdxPayloadBytes = uint64_t{1} << 30;

struct IdxArray {
  std::vector<int64_t> dims;  // 1 to 4 dimensions, each > 0
  std::vector<uint8_t> data;  // row-major, exactly the product of dims
};

// Reads a raw or gzip-compressed IDX file of unsigned bytes. Throws heed::Error, starting with
// `path`, on: a wrong magic, a type other than 0x08, 0 or more than 4 dimensions, a zero dimension,
// a payload over kMaxIdxPayloadBytes, a payload shorter or longer than the header claims, and
// corrupt or truncated gzip data. gzip output is inflated with a hard limit (the size the header
// claims); the gzip trailer's length field is never used to size anything.
IdxArray read_idx(const std::string& path);

struct ImageSet {
  Tensor images;            // f32 [N, C, H, W], pixel / 255, in [0, 1]
  Tensor labels;            // i64 [N]
  int64_t num_classes = 0;  // max label + 1
  std::string images_path, labels_path;  // the files read, for messages
};

// The images of an IDX file of dims [N, H, W] (one channel) or [N, H, W, C] (channels last) as
// f32 [N, C, H, W], pixel / 255.
Tensor read_idx_images(const std::string& path);

// Builds an image set from an images IDX file of dims [N, H, W] (one channel) or [N, H, W, C]
// (channels last, transposed here to [N, C, H, W]) and a labels IDX file of dims [N].
ImageSet load_idx_images(const std::string& images_path, const std::string& labels_path);

// Loads the split `prefix` ("train" or "t10k" for (Fashion-)MNIST) from `dir`, using the standard
// names <prefix>-images-idx3-ubyte and <prefix>-labels-idx1-ubyte, each with ".gz" preferred and
// then without it. A missing file is an error that lists the names tried.
ImageSet load_idx_split(const std::string& dir, const std::string& prefix);

// Whether `dir` holds any file of split `prefix` (images or labels, raw or .gz).
bool has_idx_split(const std::string& dir, const std::string& prefix);

// Checks `set`'s labels against `classes`: each below it (an error names the labels file, the
// record and the value) and, when `every_class_present`, each class from 0 to classes - 1 with
// at least one sample (a stray label such as 200 among 0-9 would otherwise make 201 classes).
void check_labels(const ImageSet& set, int64_t classes, bool every_class_present);

}  // namespace heed::data
