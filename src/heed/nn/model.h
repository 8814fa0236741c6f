// What the one trainer knows of a model: a Module whose forward takes a batch of named tensors.
// Tasks (src/heed/tasks/) decide what the names are: "images" [B, C, H, W] and "labels" [B] for
// image classification; "tokens" [B, T], "lengths" [B] and "labels" for text. Every tensor of a
// batch has the batch as its first dimension, so a batch can be cut into row slices for
// data-parallel replicas (train/data_parallel.h).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "heed/nn/attention.h"
#include "heed/nn/module.h"

namespace heed::nn {

struct Batch {
  std::map<std::string, Tensor> tensors;
  std::vector<int64_t> indices;  // dataset index of each row

  int64_t size() const;  // rows; 0 for an empty batch
  // The tensor called `name`; throws naming the batch's keys when absent.
  const Tensor& at(const std::string& name) const;
  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  // Rows [begin, end) of every tensor (contiguous copies) and of `indices`.
  Batch rows(int64_t begin, int64_t end) const;
};

struct ForwardOptions {
  bool attention = false;            // also return each layer's attention probabilities
  bool attention_gradients = false;  // and have backward() fill their gradients (explanations)
};

struct ModelOutput {
  Var logits;                   // [B, classes] or [B, T, vocabulary]
  AttentionCaptures attention;  // per layer (probabilities [B, H, T, T]) when asked for
  // When defined, `logits` holds hidden states [M, D] whose logits would be
  // logits @ output_weight^T ([M, V]): the loss makes them chunk by chunk (linear_cross_entropy)
  // instead of the model holding them whole. Output layers over every item or word.
  Var output_weight;
};

// Flat indices (b * T + last) of each row's last real position in [B, T] right-padded rows of
// `lengths` (a length of 0 counts as 1): where a next-item or next-token prediction is read.
Tensor last_positions(const Tensor& lengths, int64_t t);

// Flat indices (b * T + t) of the positions with label != -100, row-major: where a masked or
// next-token objective has a target.
Tensor masked_positions(const Tensor& labels);

// The recorder a model's forward hands its layers: null unless `options` ask for attention.
std::unique_ptr<AttentionRecorder> attention_recorder(const ForwardOptions& options);

class Model : public Module {
 public:
  virtual ModelOutput forward(const Batch& batch, const ForwardOptions& options = {}) = 0;
  // A new model of the same architecture and configuration (its own parameter values, replaced
  // by the trainer's): data-parallel replicas are made with it.
  virtual std::unique_ptr<Model> replicate(uint64_t seed) const = 0;
  // The checkpoint's "model" metadata: "vit", "text-encoder", ...
  virtual std::string type() const = 0;
};

}  // namespace heed::nn
