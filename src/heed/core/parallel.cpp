#include "heed/core/parallel.h"

#include <omp.h>

#include "heed/core/error.h"

namespace heed {

void set_num_threads(int n) {
  HEED_CHECK(n >= 1, "set_num_threads: thread count must be >= 1, got ", n);
  omp_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

ThreadLimit::ThreadLimit(int n) : saved_(num_threads()) {
  if (n < saved_) set_num_threads(n < 1 ? 1 : n);
}

ThreadLimit::~ThreadLimit() { omp_set_num_threads(saved_); }

}  // namespace heed
