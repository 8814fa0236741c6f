// Module: the base of every layer. Parameters and child modules are registered by name, so
// `named_parameters()` yields PyTorch/timm dotted names ("blocks.0.attn.qkv.weight") and a
// state dict maps 1:1 onto a PyTorch model's.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "heed/autograd/variable.h"

namespace heed {
struct Int8Matrix;  // ops/int8_matrix.h
struct Bf16Matrix;  // ops/bf16_matrix.h
class Int8Calibration;  // ops/int8_calibration.h
}

namespace heed::nn {

// A quantised parameter N is stored as N (its int8 values) and N + kInt8ScaleSuffix (one f32
// scale per row), as CTranslate2 names them ("weight", "weight_scale").
inline constexpr const char* kInt8ScaleSuffix = "_scale";
// A statically calibrated layer (heed quantize --calibrate) also stores N + kInt8InputRangeSuffix:
// f32 [1], the largest |x| its inputs took on the calibration data.
inline constexpr const char* kInt8InputRangeSuffix = "_input_range";

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;  // registered pointers must stay valid
  Module& operator=(const Module&) = delete;

  // Own parameters first, then children's, in registration order (PyTorch's order).
  std::vector<std::pair<std::string, Var*>> named_parameters();
  std::vector<std::pair<std::string, Tensor>> state_dict();
  // Copies values in. Errors name missing, unexpected (when strict) and mis-shaped entries.
  // A parameter with an int8 form also loads from that form (i64 N within [-127, 127] and f32
  // N_scale): the int8 weights are kept for inference and the f32 parameter gets their
  // dequantised values (so training, gradients and f32 inference still work).
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // int8 inference (docs/compression.md). Layers register which parameters have an int8 form
  // (Linear's weight, attention's packed projection); this quantises all of them per output
  // channel and returns their names. Forward passes without gradient recording then run their
  // GEMMs in int8. Embeddings, norms and biases stay f32.
  std::vector<std::string> quantize_int8();
  bool quantized();  // whether any parameter holds an int8 form
  // Static activations (heed quantize --calibrate): each int8 layer that `calibration` saw run
  // gets the range it recorded (Int8Matrix::input_range); the others stay dynamic. Returns the
  // names of the layers calibrated.
  std::vector<std::string> calibrate_int8(const Int8Calibration& calibration);
  // state_dict() with the int8 forms: each quantised N as i64 values (a checkpoint stores them
  // as I8) followed by N_scale (and N_input_range for a calibrated layer).
  std::vector<std::pair<std::string, Tensor>> int8_state_dict();
  // bf16 inference (docs/compression.md): the same parameters as quantize_int8 get a bf16 copy
  // (rounded to nearest even); forward passes without gradient recording then run their GEMMs
  // with bf16 inputs and f32 accumulation. Returns the names. Refused on an int8 model.
  std::vector<std::string> convert_bf16();
  bool bf16();  // whether any parameter holds a bf16 form
  std::vector<std::string> bf16_parameters();  // the names of those that do (a checkpoint stores them as BF16)
  void drop_reduced_forms();  // back to f32 inference: every int8 and bf16 form let go
  // Points this module's int8 and bf16 forms at `source`'s (a replica of the same architecture,
  // as train/data_parallel links its parameters), or clears them where `source` has none.
  void share_reduced_forms(Module& source);
  int64_t parameter_count();
  // This module, then each child's tree, in registration order (what PyTorch's modules() visits).
  void for_each_module(const std::function<void(Module&)>& visit);

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

 protected:
  // `var` must be a member of the registering module (its address is kept).
  void register_parameter(const std::string& name, Var* var, Tensor init);
  // An empty `name` puts the child's parameters in this module's namespace (PyTorch layers whose
  // MLP is no submodule: nn.TransformerEncoderLayer's linear1, linear2).
  void register_module(const std::string& name, Module* child);
  // `var` (registered here) has int8 and bf16 forms, which quantize_int8 (or load_state_dict)
  // and convert_bf16 put in the slots (members of this module; null while it is f32).
  void register_reduced(Var* var, std::shared_ptr<const Int8Matrix>* int8_slot,
                        std::shared_ptr<const Bf16Matrix>* bf16_slot);
  // `var` (registered here, a table such as a token embedding) is stored in int8 by
  // quantize_int8, one scale per row, weight-only: its f32 value becomes the dequantised one and
  // computation with it stays f32 (as CTranslate2 keeps int8 embeddings). bf16 leaves it f32.
  void register_int8_storage(Var* var);

 private:
  using Int8Slot = std::shared_ptr<const Int8Matrix>*;
  using Bf16Slot = std::shared_ptr<const Bf16Matrix>*;
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Var*>>& out);
  // Every parameter's name, Var and reduced-precision slots (null for parameters without them).
  struct NamedParameter {
    std::string name;
    Var* var;
    Int8Slot int8;
    Bf16Slot bf16;
  };
  void collect_all(const std::string& prefix, std::vector<NamedParameter>& out);
  std::vector<NamedParameter> all_parameters();

  std::vector<std::pair<std::string, Var*>> params_;
  struct ReducedSlots {
    Var* var;
    Int8Slot int8;
    Bf16Slot bf16;  // null for weight-only storage
  };
  std::vector<ReducedSlots> reduced_slots_;
  // The int8 slots of register_int8_storage's tables (no layer reads them: they are for the file).
  std::vector<std::unique_ptr<std::shared_ptr<const Int8Matrix>>> storage_slots_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

// Dropout seeds. Every stochastic op draws a fresh seed from one seeded stream, so a run is
// reproducible from (seed, number of draws), which checkpoints save.
void manual_seed(uint64_t seed);
uint64_t next_seed();
std::pair<uint64_t, uint64_t> seed_state();  // (seed, draws)
void set_seed_state(std::pair<uint64_t, uint64_t> state);

// While one is alive, next_seed() on the creating thread draws from its own stream, keyed by
// (base, stream), instead of the global one: data-parallel replicas (train/data_parallel.h)
// draw reproducible seeds concurrently. Not nestable on one thread.
class SeedStream {
 public:
  SeedStream(uint64_t base, uint64_t stream);
  ~SeedStream();
  SeedStream(const SeedStream&) = delete;
  SeedStream& operator=(const SeedStream&) = delete;
};

// Initialisers (timm's ViT scheme uses truncated normal std 0.02).
Tensor trunc_normal(const Shape& shape, float stddev, Rng& rng);  // cut at +-2 stddev

}  // namespace heed::nn
