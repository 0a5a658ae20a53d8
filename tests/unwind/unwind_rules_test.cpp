// The recorder's own unwinder (cached .eh_frame rules, preload/capture/unwind_rule*.cpp) against
// libunwind, as the reference: from the same frame, both must give exactly the same return
// addresses, on call chains of every shape the rules must handle (rsp- and rbp-based CFAs,
// variable-length arrays, a 100 KiB frame, libc callbacks, threads, coroutine stacks), and the
// rule walk must hand over to libunwind (return -1) where it cannot follow (signal frames).
#define UNW_LOCAL_ONLY
#include <gtest/gtest.h>
#include <libunwind.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "capture/rule_walk.h"
#include "capture/stack_capture.h"
#include "capture/stack_hash.h"
#include "capture/unwind_rule.h"
#include "frames_fixture.h"

namespace heapline::preload {
namespace {

struct Capture {
  int rules_count = 0;           // -1: the rule walk handed over to libunwind
  std::vector<void*> rules;      // from the rule walk with the thread's cache of the last stack
  std::vector<void*> uncached;   // from the rule walk without it
  std::vector<void*> reference;  // from unw_backtrace
  bool hashes_right = true;      // every hash the cached walk gave is stack_hash of its frames
  uintptr_t probe_sp = 0;        // where probe's frame was
};

constexpr int kMax = 256;

// All three walks from one frame. Their first frames differ (each names its own point in this
// function), so they are compared from this function's caller on.
__attribute__((noinline)) void probe(void* ctx) {
  void* a[kMax];
  void* u[kMax];
  void* b[kMax];
  uint64_t ha[kMax], hu[kMax];
  const int na = walk_with_unwind_rules(here(), a, ha, kMax);
  const int nu = walk_with_unwind_rules_uncached(here(), u, hu, kMax);
  const int nb = unw_backtrace(b, kMax);
  auto* c = static_cast<Capture*>(ctx);
  c->rules_count = na;
  c->rules.clear();
  c->uncached.clear();
  if (na > 0) c->rules.assign(a, a + na);
  if (nu > 0) c->uncached.assign(u, u + nu);
  c->reference.assign(b, b + nb);
  c->probe_sp = reinterpret_cast<uintptr_t>(&a[0]);
  for (int i = 0; i < na; ++i)
    c->hashes_right &= ha[i] == stack_hash(reinterpret_cast<uint64_t*>(a) + i, static_cast<size_t>(na - i));
  asm volatile("" ::: "memory");
}

// The rule walks' frames from probe's caller on, which must be the tail of libunwind's.
void expect_same_frames(const Capture& c, size_t min_frames) {
  ASSERT_GT(c.rules_count, 1) << "the rule walk handed over to libunwind";
  ASSERT_EQ(c.rules.size(), c.uncached.size());
  EXPECT_TRUE(c.hashes_right);
  EXPECT_TRUE(std::equal(c.rules.begin() + 1, c.rules.end(), c.uncached.begin() + 1))
      << "the cached walk differs from the uncached one";
  const std::vector<void*> tail(c.rules.begin() + 1, c.rules.end());
  size_t start = 0;
  while (start < c.reference.size() && c.reference[start] != tail[0]) ++start;
  ASSERT_LE(start, 3u) << "probe's caller is not among libunwind's first frames";
  const std::vector<void*> reference_tail(c.reference.begin() + static_cast<long>(start),
                                          c.reference.end());
  EXPECT_EQ(tail, reference_tail);
  EXPECT_GE(tail.size(), min_frames);
}

void init() {
  static bool done = false;
  if (!done) init_stack_capture(UnwindMethod::kDwarf);
  done = true;
}

TEST(UnwindRules, RecursionWithAndWithoutFramePointers) {
  init();
  for (int depth : {0, 1, 7, 30, 150}) {
    SCOPED_TRACE(depth);
    Capture with_fp, without_fp;
    fp_recurse(depth, probe, &with_fp);
    nofp_recurse(depth, probe, &without_fp);
    expect_same_frames(with_fp, static_cast<size_t>(depth) + 2);
    expect_same_frames(without_fp, static_cast<size_t>(depth) + 2);
  }
}

TEST(UnwindRules, VariableLengthArraysBigFramesAndSavedRegisters) {
  init();
  for (int depth : {0, 5, 40}) {
    SCOPED_TRACE(depth);
    Capture with_fp, without_fp;
    fp_vla_recurse(depth, probe, &with_fp);
    nofp_vla_recurse(depth, probe, &without_fp);
    expect_same_frames(with_fp, static_cast<size_t>(depth) + 2);
    expect_same_frames(without_fp, static_cast<size_t>(depth) + 2);
  }
  Capture big_fp, big_nofp, regs_fp, regs_nofp;
  fp_big_frame(probe, &big_fp);
  nofp_big_frame(probe, &big_nofp);
  expect_same_frames(big_fp, 2);
  expect_same_frames(big_nofp, 2);
  fp_many_registers(1, 2, 3, 4, 5, 6, probe, &regs_fp);
  nofp_many_registers(1, 2, 3, 4, 5, 6, probe, &regs_nofp);
  expect_same_frames(regs_fp, 2);
  expect_same_frames(regs_nofp, 2);
}

TEST(UnwindRules, SameFunctionSameDepthFromTwoCallersGivesEachCaller) {
  init();
  Capture a1, b1, a2, b2;
  nofp_caller_a(probe, &a1);
  nofp_caller_b(probe, &b1);
  nofp_caller_a(probe, &a2);
  nofp_caller_b(probe, &b2);
  for (const Capture* c : {&a1, &b1, &a2, &b2}) expect_same_frames(*c, 3);
  // Frame 2 is the return address into caller_a or caller_b: the two differ, repeats match.
  EXPECT_NE(a1.rules[2], b1.rules[2]);
  EXPECT_EQ(a1.rules[2], a2.rules[2]);
  EXPECT_EQ(b1.rules[2], b2.rules[2]);
}

// The thread's cache of the last stack, hammered: the same frames reached again with other
// callers, other depths, other frame sizes below them; every result must be libunwind's.
TEST(UnwindRules, CachedFramesAreRightAfterEveryKindOfChange) {
  init();
  const uint64_t joins_before = thread_stack_cache_joins();
  unsigned state = 7;
  for (int i = 0; i < 3000; ++i) {
    state = state * 1103515245u + 12345u;
    const int depth = static_cast<int>((state >> 16) % 12);
    Capture c;
    switch ((state >> 8) % 6) {
      case 0: fp_recurse(depth, probe, &c); break;
      case 1: nofp_recurse(depth, probe, &c); break;
      case 2: fp_vla_recurse(depth, probe, &c); break;
      case 3: nofp_vla_recurse(depth, probe, &c); break;
      case 4: (state >> 20) % 2 ? nofp_caller_a(probe, &c) : nofp_caller_b(probe, &c); break;
      default: (state >> 20) % 2 ? fp_caller_a(probe, &c) : fp_caller_b(probe, &c); break;
    }
    SCOPED_TRACE(i);
    expect_same_frames(c, 2);
    if (HasFailure()) break;
  }
  // The cache was used, not just bypassed: most stacks share their outer frames with the last.
  EXPECT_GT(thread_stack_cache_joins() - joins_before, 2000u);
}

// The frame below probe has its CFA in rbp (a variable-length array); two calls put probe at the
// same sp and pc while that frame's rbp, and so its CFA and callers, differ. Frames cached from
// one call must not be taken for the other: the walk joins only where rbp matches too.
TEST(UnwindRules, SameSpAndPcWithAnotherFramePointerIsNotJoined) {
  init();
  for (auto pads_then_vla : {fp_pads_then_vla, nofp_pads_then_vla}) {
    Capture one_pad;
    pads_then_vla(1, 16, probe, &one_pad);
    size_t n = 0;
    for (size_t size = 16; size < 4096 && !n; size += 16) {
      Capture c;
      pads_then_vla(0, size, probe, &c);
      if (c.probe_sp == one_pad.probe_sp) n = size;
    }
    ASSERT_NE(n, 0u) << "no array size puts probe at the same sp";
    for (int i = 0; i < 6; ++i) {
      Capture a, b;
      pads_then_vla(1, 16, probe, &a);
      pads_then_vla(0, n, probe, &b);
      ASSERT_EQ(a.probe_sp, b.probe_sp);
      expect_same_frames(a, 4);
      expect_same_frames(b, 3);
      EXPECT_EQ(a.rules.size(), b.rules.size() + 1);  // one pad frame more
    }
  }
}

struct QsortProbe {
  static Capture* capture;
  static int compare(const void* x, const void* y) {
    if (capture && capture->rules_count == 0) probe(capture);
    return *static_cast<const int*>(x) - *static_cast<const int*>(y);
  }
};
Capture* QsortProbe::capture = nullptr;

TEST(UnwindRules, ThroughLibcCallbacks) {
  init();
  Capture c;
  QsortProbe::capture = &c;
  int values[64];
  for (int i = 0; i < 64; ++i) values[i] = (i * 37) % 64;
  qsort(values, 64, sizeof values[0], QsortProbe::compare);
  QsortProbe::capture = nullptr;
  expect_same_frames(c, 3);
}

TEST(UnwindRules, InThreadsDownToTheOutermostFrame) {
  init();
  Capture c;
  pthread_t thread;
  ASSERT_EQ(pthread_create(
                &thread, nullptr,
                [](void* ctx) -> void* {
                  nofp_recurse(12, probe, ctx);
                  return nullptr;
                },
                &c),
            0);
  pthread_join(thread, nullptr);
  expect_same_frames(c, 14);
}

ucontext_t g_main_context, g_coroutine_context;

TEST(UnwindRules, OnACoroutineStack) {
  init();
  Capture c;
  static Capture* target;
  target = &c;
  std::vector<char> stack(256 * 1024);
  ASSERT_EQ(getcontext(&g_coroutine_context), 0);
  g_coroutine_context.uc_stack.ss_sp = stack.data();
  g_coroutine_context.uc_stack.ss_size = stack.size();
  g_coroutine_context.uc_link = &g_main_context;
  makecontext(&g_coroutine_context, [] { fp_recurse(6, probe, target); }, 0);
  ASSERT_EQ(swapcontext(&g_main_context, &g_coroutine_context), 0);
  // makecontext makes the entry of __start_context the return address of the coroutine's first
  // frame, so "return address - 1" lies before that function, where no FDE covers it: the rule
  // walk must hand this stack to libunwind (which stops there the same way).
  EXPECT_EQ(c.rules_count, -1);
  EXPECT_GE(c.reference.size(), 9u);
}

Capture* g_signal_capture;

void on_signal(int) { nofp_recurse(3, probe, g_signal_capture); }

void expect_signal_handled(const Capture& c) {
  // The rule walk stops at the signal trampoline and hands the stack to libunwind, which
  // unwinds through it: its frames must reach past the handler into the interrupted code.
  EXPECT_EQ(c.rules_count, -1);
  EXPECT_GE(c.reference.size(), 8u);
}

TEST(UnwindRules, HandsSignalFramesToLibunwind) {
  init();
  Capture c;
  g_signal_capture = &c;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  raise(SIGUSR1);
  expect_signal_handled(c);

  // On an alternate signal stack too.
  Capture alt;
  g_signal_capture = &alt;
  std::vector<char> alt_stack(256 * 1024);
  stack_t ss{};
  ss.ss_sp = alt_stack.data();
  ss.ss_size = alt_stack.size();
  stack_t old_ss{};
  ASSERT_EQ(sigaltstack(&ss, &old_ss), 0);
  sa.sa_flags = SA_ONSTACK;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, nullptr), 0);
  raise(SIGUSR1);
  expect_signal_handled(alt);
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(UnwindRules, PackedRulesRoundTripAndOversizedOffsetsAreUnsupported) {
  UnwindRule rule;
  rule.kind = UnwindRule::kStep;
  rule.cfa_from_rbp = true;
  rule.rbp_saved = true;
  rule.cfa_offset = -(1 << 23);
  rule.ra_offset = -8;
  rule.rbp_offset = -512;
  const uint64_t bits = rule.pack(0x1234);
  const UnwindRule back = UnwindRule::unpack(bits);
  EXPECT_EQ(back.kind, UnwindRule::kStep);
  EXPECT_TRUE(back.cfa_from_rbp);
  EXPECT_TRUE(back.rbp_saved);
  EXPECT_EQ(back.cfa_offset, -(1 << 23));
  EXPECT_EQ(back.ra_offset, -8);
  EXPECT_EQ(back.rbp_offset, -512);
  EXPECT_EQ(UnwindRule::generation_of(bits), 0x1234u);

  rule.cfa_offset = 1 << 23;  // one past the packed range: must not be cut to a wrong value
  EXPECT_EQ(UnwindRule::unpack(rule.pack(0)).kind, UnwindRule::kUnsupported);
  rule.cfa_offset = 16;
  rule.rbp_offset = 512;
  EXPECT_EQ(UnwindRule::unpack(rule.pack(0)).kind, UnwindRule::kUnsupported);
}

TEST(UnwindRules, AddressesWithoutUnwindInfoAreUnsupported) {
  static char not_code[64];
  const UnwindRule in_module = find_unwind_rule(reinterpret_cast<uintptr_t>(not_code) + 8, true);
  EXPECT_EQ(in_module.kind, UnwindRule::kUnsupported);
  EXPECT_TRUE(in_module.no_info) << "a module's address that no FDE covers";
  EXPECT_TRUE(UnwindRule::unpack(in_module.pack(7)).no_info);
  const UnwindRule nowhere = find_unwind_rule(0x1000, false);
  EXPECT_EQ(nowhere.kind, UnwindRule::kUnsupported);
  EXPECT_FALSE(nowhere.no_info) << "not in any module: libunwind may know more";
  EXPECT_FALSE(UnwindRule::unpack(nowhere.pack(7)).no_info);
}

Capture& constructor_capture() {
  static Capture capture;  // constructed at first use: before this program's own initializers
  return capture;
}

}  // namespace
}  // namespace heapline::preload

extern "C" int unwind_constructor_ran;  // constructor_probe.c

// Called by constructor_probe.c's constructor, which the loader runs before main.
extern "C" __attribute__((visibility("default"), noinline)) void unwind_probe_from_constructor() {
  heapline::preload::probe(&heapline::preload::constructor_capture());
}

namespace heapline::preload {
namespace {

// The loader's _dl_start_user has no FDE: its frame (rbp 0) ends the chain, as in libunwind,
// instead of handing the stack over to libunwind (every C++ program's first allocation,
// libstdc++'s emergency pool, is made there).
TEST(UnwindRules, FromASharedLibraryConstructorDownToTheLoader) {
  ASSERT_EQ(unwind_constructor_ran, 1);
  const Capture& c = constructor_capture();
  expect_same_frames(c, 3);
  Dl_info info{};
  ASSERT_NE(dladdr(c.rules.back(), &info), 0);
  EXPECT_NE(strstr(info.dli_fname, "ld-linux"), nullptr) << info.dli_fname;
}

}  // namespace
}  // namespace heapline::preload
