// heed quantize: an int8 copy of a checkpoint (compress/quantize.h, docs/compression.md).
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "heed/compress/quantize.h"

namespace heed::cli {

void register_quantize(CLI::App& app) {
  static std::string checkpoint, out;
  static compress::QuantizeOptions o;
  auto* cmd = app.add_subcommand("quantize", "Quantise a checkpoint's Linear and attention weights to int8 (or "
                                 "store them in bf16)");
  cmd->add_option("--checkpoint", checkpoint, "the f32 checkpoint (.safetensors)")->required();
  cmd->add_option("--out", out, "the int8 (or bf16) checkpoint to write")->required();
  cmd->add_option("--dtype", o.dtype, "int8 (default), or bf16: the same weights stored as BF16, run in bf16 "
                  "wherever the checkpoint is loaded")
      ->check(CLI::IsMember({"int8", "bf16"}));
  cmd->add_flag("--overwrite", o.overwrite, "replace --out if it exists");
  cmd->add_option("--calibrate", o.calibrate, "static activation ranges from this data (images: an IDX directory, "
                  "its train split; text: a labelled file); default: dynamic, per row at run time");
  cmd->add_option("--calibration-samples", o.calibration_samples, "records of it to run (default 512)")
      ->check(CLI::PositiveNumber);
  cmd->callback([] {
    const train::Checkpoint ckpt = train::read_checkpoint(checkpoint);
    const compress::QuantizeResult r = compress::quantize_checkpoint(ckpt, out, o);
    if (!o.calibrate.empty())
      std::printf("calibrated the activation ranges of %zu layers on %lld records of %s\n", r.calibrated.size(),
                  (long long)r.calibration_records, o.calibrate.c_str());
    const double in_mb = double(std::filesystem::file_size(checkpoint)) / 1e6;
    const double out_mb = double(std::filesystem::file_size(out)) / 1e6;
    std::printf("quantised %zu weight matrices to %s (%lld values; %lld stay f32: embeddings, norms, "
                "biases)\n%s: %.2f MB (%s: %.2f MB with its optimiser state; model weights in f32: %.2f MB)\n",
                r.layers.size(), o.dtype.c_str(), (long long)r.narrow_values, (long long)r.f32_values, out.c_str(),
                out_mb, checkpoint.c_str(), in_mb, 4.0 * double(r.narrow_values + r.f32_values) / 1e6);
  });
}

}  // namespace heed::cli
