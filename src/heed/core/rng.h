// Seeded random numbers. Two flavours:
//  - counter-based (`random_bits(seed, index)`): the value depends only on (seed, index), so
//    dropout masks can be regenerated in backward and are identical for any thread count;
//  - a sequential generator (`Rng`) for initialisation and shuffling, built on the same hash.
#pragma once

#include <cstdint>

namespace heed {

// SplitMix64 finaliser applied to (seed, index): a stateless, well-mixed 64-bit hash.
inline uint64_t random_bits(uint64_t seed, uint64_t index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + index * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits (every value exactly representable as float).
inline float random_uniform(uint64_t seed, uint64_t index) {
  return static_cast<float>(random_bits(seed, index) >> 40) * (1.0f / 16777216.0f);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : seed_(seed) {}
  uint64_t next_u64() { return random_bits(seed_, counter_++); }
  float uniform() { return random_uniform(seed_, counter_++); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  float normal();  // standard normal (Box-Muller)
  // Uniform integer in [0, n) without modulo bias.
  uint64_t below(uint64_t n);
  uint64_t seed() const { return seed_; }
  uint64_t counter() const { return counter_; }
  void set_state(uint64_t seed, uint64_t counter) { seed_ = seed, counter_ = counter; }

 private:
  uint64_t seed_;
  uint64_t counter_ = 0;
};

}  // namespace heed
