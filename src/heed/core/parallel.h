// One thread pool: OpenMP's. heed's kernels parallelise with `omp parallel for schedule(static)`
// (deterministic partitioning), and BLAS calls made inside a parallel region run single-threaded
// (oneDNN checks omp_in_parallel), so threads are never nested.
#pragma once

namespace heed {

void set_num_threads(int n);
int num_threads();

// Runs the scope on at most `n` threads, then restores the count: for work too small to pay for
// waking the other threads (a decoding step of a small model is a few microseconds of
// arithmetic, and each parallel region costs more than that with passive waits).
class ThreadLimit {
 public:
  explicit ThreadLimit(int n);
  ~ThreadLimit();
  ThreadLimit(const ThreadLimit&) = delete;
  ThreadLimit& operator=(const ThreadLimit&) = delete;

 private:
  int saved_;
};

}  // namespace heed
