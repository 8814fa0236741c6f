// --dtype for the commands that run a checkpoint's model (eval, predict, generate, translate,
// recommend, bench): f32, or bf16 GEMMs (nn::Module::convert_bf16).
#include <cstdio>

#include "commands.h"
#include "heed/kernels/bf16.h"

namespace heed::cli {

void add_dtype_option(CLI::App* cmd, std::string& dtype) {
  cmd->add_option("--dtype", dtype,
                  "f32, or bf16: Linear and attention projection weights and their inputs in bf16, f32 "
                  "accumulation (AVX-512 BF16 / AMX; emulated in f32 elsewhere)")
      ->default_val("f32");
}

train::Checkpoint read_checkpoint_as(const std::string& path, const std::string& dtype) {
  const train::ComputeDtype compute = train::parse_compute_dtype(dtype, "--dtype");
  train::Checkpoint checkpoint = train::read_checkpoint(path);
  checkpoint.compute = compute;
  if ((compute == train::ComputeDtype::BF16 || train::stored_bf16(checkpoint)) && !kernels::bf16_native())
    std::fprintf(stderr, "bf16: this CPU has no bf16 dot products (AVX-512 BF16 or AMX): the bf16 weights run "
                         "through f32 GEMMs (the same products, the f32 speed)\n");
  return checkpoint;
}

}  // namespace heed::cli
