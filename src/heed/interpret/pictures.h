// The pictures `heed explain` writes, drawn with cairo (text through fontconfig's fonts):
//   overlay: the input image with each method's relevance over it (bilinear from the token
//            grid), one panel per method, a colour bar and the prediction as a title;
//   heads:   every layer x head attention map in a labelled grid.
// Colours: a perceptually ordered dark-to-bright map (viridis's anchors), 0 = dark.
#pragma once

#include <string>
#include <vector>

#include "heed/core/tensor.h"

namespace heed::interpret {

struct RelevancePanel {
  std::string title;
  std::vector<float> grid;  // rows x cols, row-major, any non-negative scale
};

// image [C, H, W] in [0, 1] (C = 1 or 3). Throws naming `path` when it cannot be written.
void draw_overlay(const std::string& path, const Tensor& image, int64_t rows, int64_t cols,
                  const std::vector<RelevancePanel>& panels, const std::string& title);

// Text: each method's tokens in reading order, wrapped, each on a background coloured by its
// relevance (panel.grid holds one value per token).
void draw_tokens(const std::string& path, const std::vector<std::string>& tokens,
                 const std::vector<RelevancePanel>& panels, const std::string& title);

// attention: per layer [H, T, T].
void draw_heads(const std::string& path, const std::vector<Tensor>& attention, const std::string& title);

// viridis-like colour of x in [0, 1] as r, g, b in [0, 1].
void colour_map(float x, float rgb[3]);

}  // namespace heed::interpret

namespace heed::interpret {

// One run's per-epoch figures from its metrics.jsonl (interpret/curves.h reads them).
struct RunCurves {
  std::string label;                 // the run directory's name
  std::string metric;                // the validation metric's key (e.g. "val_accuracy")
  std::vector<double> epoch, train_loss, val_loss, val_metric;  // NaN where a row lacks one
};

// Three panels side by side (training loss, validation loss, the validation metric against
// epoch), every run overlaid in its own colour with a legend. Written to `path` atomically.
void draw_curves(const std::string& path, const std::vector<RunCurves>& runs);

}  // namespace heed::interpret
