// The recorder's fork gate (preload/fork_gate.h): a fork never happens while another thread is
// inside a RecorderSection, whether threads count themselves with plain stores made visible by
// membarrier() or with atomic adds, and slots of gone threads are taken over.
//
// Each scenario runs in a fresh process (a death-test child): the gate's mode is process-wide.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "fork_gate.h"

namespace heapline::preload {
namespace {

constexpr int kWorkers = 3;
constexpr int kForks = 300;

// Workers mark themselves inside while in a section, doing some work there; the main thread
// forks as the recorder's fork handlers do. A child that sees a marker set was forked while a
// thread was inside. Returns how many children did.
int forks_that_landed_inside() {
  std::atomic<bool> stop{false};
  std::atomic<int> inside[kWorkers] = {};
  std::atomic<uint64_t> sections{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w)
    workers.emplace_back([&, w] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        RecorderSection section;
        inside[w].store(1, std::memory_order_relaxed);
        for (int spin = 0; spin < 200; ++spin) asm volatile("" ::: "memory");
        inside[w].store(0, std::memory_order_relaxed);
        ++n;
      }
      sections += n;
    });
  int landed_inside = 0;
  for (int i = 0; i < kForks; ++i) {
    close_fork_gate();
    const pid_t child = fork();
    if (child == 0) {
      open_fork_gate(/*in_child=*/true);
      int seen = 0;
      for (auto& marker : inside) seen += marker.load(std::memory_order_relaxed);
      { RecorderSection in_child; }  // the child's own sections still work
      _exit(seen);
    }
    open_fork_gate(/*in_child=*/false);
    int status = 0;
    waitpid(child, &status, 0);
    landed_inside += WIFEXITED(status) ? WEXITSTATUS(status) != 0 : 1;
  }
  stop = true;
  for (auto& t : workers) t.join();
  if (sections.load() < kForks) return -1;  // the workers hardly ran: the test proved nothing
  return landed_inside;
}

class ForkGate : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(ForkGate, NoForkLandsInsideASectionWithMembarrier) {
  EXPECT_EXIT(
      {
        init_fork_gate(/*allow_membarrier=*/true);
        bool own = false;
        std::thread([&] {
          RecorderSection s;
          own = fork_gate_slot_of_own();
        }).join();
        if (!own) _exit(100);  // membarrier refused here: the next test covers the stripes
        _exit(forks_that_landed_inside());
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(ForkGate, NoForkLandsInsideASectionWithAtomicCounts) {
  EXPECT_EXIT(
      {
        init_fork_gate(/*allow_membarrier=*/false);
        bool own = true;
        std::thread([&] {
          RecorderSection s;
          own = fork_gate_slot_of_own();
        }).join();
        if (own) _exit(100);
        _exit(forks_that_landed_inside());
      },
      ::testing::ExitedWithCode(0), "");
}

// 1024 slots; 3000 threads one after the other each get one, the gone ones' taken over.
TEST_F(ForkGate, GoneThreadsSlotsAreTakenOver) {
  EXPECT_EXIT(
      {
        init_fork_gate(/*allow_membarrier=*/true);
        int without_slot = 0;
        for (int i = 0; i < 3000; ++i)
          std::thread([&] {
            RecorderSection s;
            without_slot += !fork_gate_slot_of_own();
          }).join();
        _exit(without_slot > 255 ? 255 : without_slot);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace heapline::preload
