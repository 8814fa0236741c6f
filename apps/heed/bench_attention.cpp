// heed bench attention: time, GFLOP/s and extra peak memory of one attention configuration.
// FLOPs follow the FlashAttention papers: 4 Tq Tk D per head forward (two GEMMs), 3x that for
// forward + backward, halved when causal. Extra memory is the rise of the process's peak
// resident set (VmHWM, reset through /proc/self/clear_refs) above its level before the run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "heed/core/parallel.h"
#include "heed/core/rng.h"
#include "heed/ops/attention.h"

namespace heed::cli {

namespace {
struct AttentionBenchArgs {
  int64_t batch = 1, heads = 8, seq = 1024, kv_seq = 0, head_dim = 64, window = 0;
  bool causal = false, backward = false, json = false;
  std::string impl = "fused";
  int reps = 5, threads = 0;
};

// Reads a "VmXXX:  N kB" line of /proc/self/status, in bytes.
int64_t proc_status_bytes(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(std::string(key).size())) * 1024;
  return -1;
}

void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

void run(const AttentionBenchArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  const int64_t tk = a.kv_seq > 0 ? a.kv_seq : a.seq;
  Rng rng(1);
  Tensor q = Tensor::randn({a.batch, a.heads, a.seq, a.head_dim}, rng);
  Tensor k = Tensor::randn({a.batch, a.heads, tk, a.head_dim}, rng);
  Tensor v = Tensor::randn({a.batch, a.heads, tk, a.head_dim}, rng);
  Tensor g = Tensor::randn({a.batch, a.heads, a.seq, a.head_dim}, rng);
  AttentionOptions o;
  o.causal = a.causal;
  o.window = a.window;
  auto once = [&] {
    Var qv(q, a.backward), kv(k, a.backward), vv(v, a.backward);
    Var out = a.impl == "fused" ? attention_fused(qv, kv, vv, o) : attention_reference(qv, kv, vv, o);
    if (a.backward) out.backward(g);
  };
  HEED_CHECK(a.impl == "fused" || a.impl == "reference", "bench attention: --impl must be fused or "
             "reference, got '", a.impl, "'");
  const int64_t base = proc_status_bytes("VmRSS:");
  reset_peak_rss();
  once();  // warm-up, and the run whose peak memory is reported
  const int64_t peak_extra = proc_status_bytes("VmHWM:") - base;
  std::vector<double> ms;
  for (int i = 0; i < a.reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  double flops = 4.0 * double(a.batch * a.heads) * double(a.seq) * double(tk) * double(a.head_dim);
  if (a.backward) flops *= 3;
  if (a.causal) flops /= 2;
  const double gflops = flops / (median * 1e-3) * 1e-9;
  const double extra_mib = double(peak_extra) / (1 << 20);
  if (a.json) {
    nlohmann::json j{{"impl", a.impl}, {"batch", a.batch}, {"heads", a.heads}, {"seq", a.seq},
                     {"kv_seq", tk}, {"head_dim", a.head_dim}, {"causal", a.causal},
                     {"window", a.window}, {"backward", a.backward}, {"threads", num_threads()},
                     {"median_ms", median}, {"gflops", gflops}, {"peak_extra_mib", extra_mib}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("attention %s B=%ld H=%ld Tq=%ld Tk=%ld D=%ld%s%s: median %.3f ms, %.1f GFLOP/s, "
                "extra peak memory %.1f MiB (%d threads)\n",
                a.impl.c_str(), long(a.batch), long(a.heads), long(a.seq), long(tk), long(a.head_dim),
                a.causal ? " causal" : "", a.backward ? " fwd+bwd" : " fwd", median, gflops,
                extra_mib, num_threads());
  }
}
}  // namespace

void register_bench_attention(CLI::App& bench) {
  static AttentionBenchArgs a;
  auto* cmd = bench.add_subcommand("attention", "Time scaled dot-product attention");
  cmd->add_option("--batch", a.batch)->check(CLI::PositiveNumber);
  cmd->add_option("--heads", a.heads)->check(CLI::PositiveNumber);
  cmd->add_option("--seq", a.seq, "query length")->check(CLI::PositiveNumber);
  cmd->add_option("--kv-seq", a.kv_seq, "key/value length (default: --seq)")->check(CLI::PositiveNumber);
  cmd->add_option("--head-dim", a.head_dim)->check(CLI::PositiveNumber);
  cmd->add_option("--window", a.window, "sliding window (0 = none)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--causal", a.causal);
  cmd->add_flag("--backward", a.backward, "time forward + backward");
  cmd->add_option("--impl", a.impl, "fused or reference");
  cmd->add_option("--reps", a.reps, "timed repetitions")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a.threads, "threads (default: OMP_NUM_THREADS or all cores)")->check(CLI::Range(1, 4096));
  cmd->add_flag("--json", a.json, "print JSON (median_ms, gflops, peak_extra_mib)");
  cmd->callback([] { run(a); });
}

}  // namespace heed::cli
