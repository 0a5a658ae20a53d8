// How to step from one x86-64 frame to its caller, read from the code's .eh_frame.
//
// Nearly every frame of compiled code unwinds the same simple way: the caller's stack pointer
// (the CFA) is rsp or rbp plus a constant, the return address and the caller's rbp are stored at
// fixed offsets from it. A rule saying just that is found once per code address (FDE lookup
// through _dl_find_object and .eh_frame_hdr, then the CFA program run up to that address) and
// cached (unwind_rule_cache.h); a step is then one hash lookup and one or two loads. Anything
// else (CFA expressions, signal trampolines, registers kept in other registers, code without an
// FDE) is reported as kUnsupported, and the caller unwinds that stack with libunwind instead.
#pragma once

#include <cstdint>

namespace heapline::preload {

struct UnwindRule {
  enum Kind : uint8_t {
    kUnknown = 0,      // not looked up yet (only ever seen inside the cache)
    kStep = 1,         // step with the fields below
    kOutermost = 2,    // the return address is undefined: the first frame of the thread
    kUnsupported = 3,  // this frame needs libunwind
  };
  Kind kind = kUnknown;
  // kUnsupported because no FDE covers the address (in a module that has .eh_frame): where rbp
  // is 0 this is the end of the chain, as libunwind ends it. The dynamic loader's
  // _dl_start_user, from which the shared libraries' constructors run, is such a frame.
  bool no_info = false;
  bool cfa_from_rbp = false;  // CFA = rbp + cfa_offset, else rsp + cfa_offset
  bool rbp_saved = false;     // caller's rbp is at CFA + rbp_offset, else rbp is unchanged
  int32_t cfa_offset = 0;
  int32_t ra_offset = 0;   // the return address is at CFA + ra_offset
  int32_t rbp_offset = 0;

  // 64 bits, so that a cache entry is published and read whole. `generation` rides along for the
  // cache. Rules whose offsets do not fit are packed as kUnsupported.
  uint64_t pack(uint32_t generation) const;
  static UnwindRule unpack(uint64_t bits) {
    UnwindRule rule;
    rule.kind = static_cast<Kind>(bits & 3);
    if (rule.kind == kUnsupported) {
      rule.no_info = (bits >> 2) & 1;
      return rule;
    }
    rule.cfa_from_rbp = (bits >> 2) & 1;
    rule.rbp_saved = (bits >> 3) & 1;
    rule.ra_offset = sign_extend((bits >> 20) & 0x3ff, 10);
    rule.rbp_offset = sign_extend((bits >> 30) & 0x3ff, 10);
    rule.cfa_offset = sign_extend(bits >> 40, 24);
    return rule;
  }
  static uint32_t generation_of(uint64_t bits) { return (bits >> 4) & kGenerationMask; }
  static constexpr uint32_t kGenerationMask = 0xFFFF;

 private:
  static int32_t sign_extend(uint64_t v, int bits) {
    return static_cast<int32_t>(static_cast<int64_t>(v << (64 - bits)) >> (64 - bits));
  }
};

// The rule for the frame executing at `pc`. For every frame but the innermost, `pc` is a return
// address and `is_return_address` is true: the rule is then looked up at pc - 1 (the call, which
// may be the last instruction of its function) and a return into a sigreturn trampoline is
// kUnsupported. Async-signal-safe and allocation-free: _dl_find_object and reads of mapped code.
UnwindRule find_unwind_rule(uintptr_t pc, bool is_return_address);

}  // namespace heapline::preload
