// GEMM through oneDNN's sgemm (chosen over OpenBLAS by measurement: docs/benchmarks.md).
// Row-major: C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C, op = optional transpose.
#pragma once

#include <cstdint>
#include <string>

namespace heed::kernels {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// `batch` independent GEMMs at element strides stride_a/b/c (0 broadcasts an operand; stride_c 0
// accumulates every product into one C, which then runs in order for determinism).
void gemm_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb,
                  int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                  int64_t batch);

const char* blas_name();
// oneDNN's version and the instruction set its kernels use on this CPU ("AVX-512 BF16", ...),
// which it chooses at run time (ONEDNN_MAX_CPU_ISA limits it).
std::string gemm_library_version();
std::string gemm_isa();

}  // namespace heed::kernels
