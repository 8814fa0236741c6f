// One thread pool: OpenMP's. heed's kernels parallelise with `omp parallel for schedule(static)`
// (deterministic partitioning), and BLAS calls made inside a parallel region run single-threaded
// (oneDNN checks omp_in_parallel), so threads are never nested.
#pragma once

namespace heed {

void set_num_threads(int n);
int num_threads();

}  // namespace heed
