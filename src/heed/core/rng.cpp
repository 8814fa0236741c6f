#include "heed/core/rng.h"

#include <cmath>

namespace heed {

float Rng::normal() {
  // Box-Muller on (0, 1]: 1 - uniform() never reaches 0, so log() stays finite.
  double u1 = 1.0 - static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
  double u2 = static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

uint64_t Rng::below(uint64_t n) {
  uint64_t limit = ~uint64_t{0} - (~uint64_t{0} % n);  // reject the short last bucket
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % n;
}

}  // namespace heed
