#include "trace_clock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace heapline::preload {

std::atomic<const TscMapping*> g_tsc_mapping{nullptr};
uint64_t g_trace_start_ns = 0;

namespace {

constexpr uint64_t kCalibrationNs = 20 * 1000 * 1000;

// Whether the kernel's clocksource is the TSC: asked by the drain thread's first calibration,
// not at start (a sysfs read, three system calls on every traced process's start-up path, and
// a short sampled run never calibrates).
enum class TscState { kUnknown, kUsable, kUnusable };
TscState g_tsc_state = TscState::kUnknown;
uint64_t g_calibration_tsc = 0;
uint64_t g_calibration_ns = 0;
TscMapping g_mapping;  // written once per trace before being published

bool kernel_uses_tsc() {
  char buf[32] = {};
  const int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                      O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n >= 3 && strncmp(buf, "tsc", 3) == 0;
}

// A (tsc, monotonic) pair read as close together as possible: the tightest of a few tries.
void read_pair(uint64_t* tsc, uint64_t* ns) {
  uint64_t best_width = UINT64_MAX;
  for (int i = 0; i < 5; ++i) {
    const uint64_t before = __rdtsc();
    const uint64_t now = monotonic_ns();
    const uint64_t after = __rdtsc();
    if (after - before < best_width) {
      best_width = after - before;
      *tsc = before + (after - before) / 2;
      *ns = now;
    }
  }
}

}  // namespace

void start_trace_clock(uint64_t start_monotonic_ns) {
  g_tsc_mapping.store(nullptr, std::memory_order_release);
  g_trace_start_ns = start_monotonic_ns;
  g_tsc_state = TscState::kUnknown;
  read_pair(&g_calibration_tsc, &g_calibration_ns);
}

void calibrate_trace_clock() {
  if (g_tsc_state == TscState::kUnknown)
    g_tsc_state = kernel_uses_tsc() ? TscState::kUsable : TscState::kUnusable;
  if (g_tsc_state != TscState::kUsable || g_tsc_mapping.load(std::memory_order_relaxed)) return;
  uint64_t tsc, ns;
  read_pair(&tsc, &ns);
  if (ns - g_calibration_ns < kCalibrationNs || tsc <= g_calibration_tsc) return;
  g_mapping.ns_per_tsc = static_cast<uint64_t>(
      (static_cast<uint128_t>(ns - g_calibration_ns) << 32) / (tsc - g_calibration_tsc));
  g_mapping.tsc_anchor = tsc;
  g_mapping.ns_anchor = ns - g_trace_start_ns;
  g_tsc_mapping.store(&g_mapping, std::memory_order_release);
}

}  // namespace heapline::preload
