// What `heed explain` writes into its output directory, all at once (a temporary directory
// renamed into place, so a failed run leaves nothing half-written):
//   overlay.png      relevance over the input image, one panel per method (for text: the
//                    tokens on backgrounds coloured by relevance);
//   heads.png        every layer x head attention map;
//   attention.json   bertviz's shape: {"tokens": [...], "attention": per layer [heads][T][T]};
//   relevance.json   the prediction and, per method, each input token's relevance (for images
//                    also as a rows x cols grid over the patches);
//   index.html       the explorer: one self-contained page (no network) with a head view, a
//                    model view, the relevance methods side by side and the patch grid.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "heed/interpret/explain.h"

namespace heed::interpret {

// What was explained, for labels and layout.
struct ExplainSubject {
  std::string input;                    // the input's path or text (titles)
  std::vector<std::string> tokens;      // one name per attention position
  int64_t query = 0;                    // the position whose output is classified ([CLS])
  bool mean_pooled = false;             // the classifier reads the mean of every position's
                                        // output: relevance is the mean of the rows
  int64_t grid_rows = 0, grid_cols = 0; // images: the positions after `query` form this grid
  Tensor image;                         // images: [C, H, W] in [0, 1]
  std::vector<std::string> class_names;
};

// The relevance of every position but `query` to the prediction from a [T, T] relevance matrix:
// row `query`, or the mean of the rows when the classifier pools by mean.
std::vector<float> subject_relevance(const Tensor& relevance, const ExplainSubject& s);

// The relevance of every position but `query` to the prediction, per method (kMethods).
nlohmann::json relevance_json(const Explanation& e, const ExplainSubject& s);
nlohmann::json attention_json(const Explanation& e, const ExplainSubject& s);

// Writes the directory `out` (created; an existing non-empty directory is an error naming it).
void write_explanation(const std::string& out, const Explanation& e, const ExplainSubject& s);

}  // namespace heed::interpret
