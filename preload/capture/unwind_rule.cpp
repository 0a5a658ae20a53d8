#include "unwind_rule.h"

#include <dlfcn.h>

#include <cstring>

namespace heapline::preload {
namespace {

// DWARF register numbers of x86-64 that the rules track.
constexpr uint64_t kRegRbp = 6;
constexpr uint64_t kRegRsp = 7;
constexpr uint64_t kRegRa = 16;

// Pointer encodings (DW_EH_PE_*) that appear in .eh_frame and .eh_frame_hdr.
constexpr uint8_t kEncOmit = 0xff;
constexpr uint8_t kEncDatarelSdata4 = 0x3b;

// A bounded reader over mapped, well-formed .eh_frame data; any overrun marks it failed.
struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool failed = false;

  bool has(size_t n) {
    if (failed || static_cast<size_t>(end - p) < n) failed = true;
    return !failed;
  }
  uint8_t u8() { return has(1) ? *p++ : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    if (has(4)) memcpy(&v, p, 4), p += 4;
    return v;
  }
  uint64_t uleb() {
    uint64_t v = 0;
    for (unsigned shift = 0; has(1); shift += 7) {
      const uint8_t b = *p++;
      if (shift < 64) v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  }
  int64_t sleb() {
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b = 0;
    while (has(1)) {
      b = *p++;
      if (shift < 64) v |= static_cast<uint64_t>(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    if (shift < 64 && (b & 0x40)) v |= ~0ull << shift;
    return static_cast<int64_t>(v);
  }
  // The value of an encoded pointer's format part (no application: pcrel etc. are not applied).
  uint64_t encoded_value(uint8_t enc) {
    switch (enc & 0x0f) {
      case 0x00: return has(8) ? read_le<uint64_t>() : 0;
      case 0x01: return uleb();
      case 0x02: return has(2) ? read_le<uint16_t>() : 0;
      case 0x03: return has(4) ? read_le<uint32_t>() : 0;
      case 0x04: return has(8) ? read_le<uint64_t>() : 0;
      case 0x09: return static_cast<uint64_t>(sleb());
      case 0x0a: return static_cast<uint64_t>(static_cast<int64_t>(has(2) ? read_le<int16_t>() : 0));
      case 0x0b: return static_cast<uint64_t>(static_cast<int64_t>(has(4) ? read_le<int32_t>() : 0));
      case 0x0c: return has(8) ? read_le<uint64_t>() : 0;
      default: failed = true; return 0;
    }
  }
  template <typename T>
  T read_le() {
    T v;
    memcpy(&v, p, sizeof v);
    p += sizeof v;
    return v;
  }
};

// An entry's [begin, end) after its length field (32-bit, or 64-bit after 0xffffffff).
bool entry_bounds(const uint8_t* at, const uint8_t** body, const uint8_t** end) {
  uint32_t len32;
  memcpy(&len32, at, 4);
  if (len32 == 0) return false;  // terminator
  uint64_t len = len32;
  const uint8_t* p = at + 4;
  if (len32 == 0xffffffff) {
    memcpy(&len, p, 8);
    p += 8;
  }
  *body = p;
  *end = p + len;
  return true;
}

struct Cie {
  uint64_t code_align = 1;
  int64_t data_align = 1;
  uint8_t fde_encoding = 0;
  bool has_augmentation_data = false;
  bool signal_frame = false;
  const uint8_t* instructions = nullptr;
  const uint8_t* end = nullptr;
};

bool parse_cie(const uint8_t* at, Cie& cie) {
  const uint8_t* body;
  if (!entry_bounds(at, &body, &cie.end)) return false;
  Reader r{body, cie.end};
  if (r.u32() != 0) return false;  // a CIE's id is 0 in .eh_frame
  const uint8_t version = r.u8();
  if (version != 1 && version != 3 && version != 4) return false;
  const char* augmentation = reinterpret_cast<const char*>(r.p);
  const size_t aug_len = strnlen(augmentation, static_cast<size_t>(r.end - r.p));
  if (!r.has(aug_len + 1)) return false;
  r.p += aug_len + 1;
  if (version == 4) {
    if (r.u8() != 8 || r.u8() != 0) return false;  // address and segment selector sizes
  }
  cie.code_align = r.uleb();
  cie.data_align = r.sleb();
  const uint64_t ra_register = version == 1 ? r.u8() : r.uleb();
  if (ra_register != kRegRa) return false;
  if (augmentation[0] == 'z') {
    cie.has_augmentation_data = true;
    const uint64_t len = r.uleb();
    if (!r.has(len)) return false;
    const uint8_t* after = r.p + len;
    for (const char* a = augmentation + 1; *a; ++a) {
      if (*a == 'R') {
        cie.fde_encoding = r.u8();
      } else if (*a == 'L') {
        r.u8();
      } else if (*a == 'P') {
        const uint8_t enc = r.u8();
        if ((enc & 0x70) == 0x50) return false;  // aligned: not produced by today's toolchains
        r.encoded_value(enc);
      } else if (*a == 'S') {
        cie.signal_frame = true;
      } else {
        break;  // unknown: the length above lets us skip the rest
      }
    }
    r.p = after;
  } else if (augmentation[0] != '\0') {
    return false;  // e.g. gcc 2's "eh": not worth supporting
  }
  if (r.failed) return false;
  cie.instructions = r.p;
  return true;
}

// The tracked part of the register rules while the CFA program runs.
struct RegisterRules {
  enum How : uint8_t { kSame, kUndefined, kAtCfaOffset, kOther };
  uint64_t cfa_register = kRegRsp;
  int64_t cfa_offset = 0;
  bool cfa_unsupported = false;  // an expression or an untracked register
  How rbp = kSame, ra = kSame;
  int64_t rbp_offset = 0, ra_offset = 0;
  bool rsp_has_rule = false;

  void set(uint64_t reg, How how, int64_t offset) {
    if (reg == kRegRbp) rbp = how, rbp_offset = offset;
    else if (reg == kRegRa) ra = how, ra_offset = offset;
    else if (reg == kRegRsp) rsp_has_rule = true;
    // Other registers cannot change how rsp, rbp or the return address are found.
  }
  void restore(uint64_t reg, const RegisterRules& initial) {
    if (reg == kRegRbp) rbp = initial.rbp, rbp_offset = initial.rbp_offset;
    else if (reg == kRegRa) ra = initial.ra, ra_offset = initial.ra_offset;
  }
};

// Runs a CFA program until the location passes `target`. False on anything not understood.
bool run_cfa_program(Reader r, const Cie& cie, uint64_t loc, uint64_t target,
                     const RegisterRules& initial, RegisterRules& rules) {
  constexpr int kMaxRemembered = 8;
  RegisterRules remembered[kMaxRemembered];
  int depth = 0;
  while (r.p < r.end && !r.failed) {
    const uint8_t op = r.u8();
    const uint8_t low = op & 0x3f;
    uint64_t advance = 0;
    switch (op >> 6) {
      case 1: advance = low; break;                                           // advance_loc
      case 2: rules.set(low, RegisterRules::kAtCfaOffset, static_cast<int64_t>(r.uleb()) * cie.data_align); continue;
      case 3: rules.restore(low, initial); continue;                          // restore
      default: break;
    }
    if (op >> 6 == 0) {
      switch (op) {
        case 0x00: continue;  // nop
        case 0x02: advance = r.u8(); break;
        case 0x03: advance = r.has(2) ? r.read_le<uint16_t>() : 0; break;
        case 0x04: advance = r.u32(); break;
        case 0x05: {  // offset_extended
          const uint64_t reg = r.uleb();
          rules.set(reg, RegisterRules::kAtCfaOffset, static_cast<int64_t>(r.uleb()) * cie.data_align);
          continue;
        }
        case 0x06: rules.restore(r.uleb(), initial); continue;  // restore_extended
        case 0x07: rules.set(r.uleb(), RegisterRules::kUndefined, 0); continue;
        case 0x08: rules.set(r.uleb(), RegisterRules::kSame, 0); continue;
        case 0x09: {  // register: the value lives in another register
          const uint64_t reg = r.uleb();
          r.uleb();
          rules.set(reg, RegisterRules::kOther, 0);
          continue;
        }
        case 0x0a:  // remember_state
          if (depth == kMaxRemembered) return false;
          remembered[depth++] = rules;
          continue;
        case 0x0b: {  // restore_state: the CFA is part of the state in practice (GCC, LLVM)
          if (depth == 0) return false;
          rules = remembered[--depth];
          continue;
        }
        case 0x0c:  // def_cfa
          rules.cfa_register = r.uleb();
          rules.cfa_offset = static_cast<int64_t>(r.uleb());
          rules.cfa_unsupported = false;
          continue;
        case 0x0d: rules.cfa_register = r.uleb(); continue;
        case 0x0e: rules.cfa_offset = static_cast<int64_t>(r.uleb()); continue;
        case 0x0f: {  // def_cfa_expression
          const uint64_t len = r.uleb();
          if (r.has(len)) r.p += len;
          rules.cfa_unsupported = true;
          continue;
        }
        case 0x10: case 0x16: {  // expression, val_expression
          const uint64_t reg = r.uleb();
          const uint64_t len = r.uleb();
          if (r.has(len)) r.p += len;
          rules.set(reg, RegisterRules::kOther, 0);
          continue;
        }
        case 0x11: {  // offset_extended_sf
          const uint64_t reg = r.uleb();
          rules.set(reg, RegisterRules::kAtCfaOffset, r.sleb() * cie.data_align);
          continue;
        }
        case 0x12:  // def_cfa_sf
          rules.cfa_register = r.uleb();
          rules.cfa_offset = r.sleb() * cie.data_align;
          rules.cfa_unsupported = false;
          continue;
        case 0x13: rules.cfa_offset = r.sleb() * cie.data_align; continue;
        case 0x14: case 0x15: {  // val_offset(_sf): the value is an address, not stored there
          const uint64_t reg = r.uleb();
          if (op == 0x14) r.uleb(); else r.sleb();
          rules.set(reg, RegisterRules::kOther, 0);
          continue;
        }
        case 0x2e: r.uleb(); continue;  // GNU_args_size
        case 0x2f: {                    // GNU_negative_offset_extended
          const uint64_t reg = r.uleb();
          rules.set(reg, RegisterRules::kAtCfaOffset, -static_cast<int64_t>(r.uleb()) * cie.data_align);
          continue;
        }
        default: return false;  // set_loc, vendor extensions: not understood
      }
    }
    loc += advance * cie.code_align;
    if (loc > target) break;
  }
  return !r.failed;
}

// The FDE covering `pc` in the object's .eh_frame_hdr search table, or null.
const uint8_t* find_fde(const uint8_t* hdr, uintptr_t pc, uintptr_t* initial_location) {
  if (hdr[0] != 1 || hdr[3] != kEncDatarelSdata4 || hdr[2] == kEncOmit) return nullptr;
  Reader r{hdr + 4, hdr + 4 + 64};
  r.encoded_value(hdr[1]);  // eh_frame_ptr: not needed, the table points at FDEs directly
  const uint64_t count = r.encoded_value(hdr[2]);
  if (r.failed || count == 0) return nullptr;
  const auto* table = reinterpret_cast<const int32_t*>(r.p);
  const auto base = reinterpret_cast<intptr_t>(hdr);
  const intptr_t rel = static_cast<intptr_t>(pc) - base;
  // The last entry whose initial location is <= pc.
  uint64_t lo = 0, hi = count;
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (table[2 * mid] <= rel) lo = mid;
    else hi = mid;
  }
  if (table[2 * lo] > rel) return nullptr;
  *initial_location = static_cast<uintptr_t>(base + table[2 * lo]);
  return hdr + table[2 * lo + 1];
}

// The x86-64 rt_sigreturn trampoline: mov $15, %rax; syscall. A return address pointing at it
// belongs to a signal frame, whose interrupted frame must not be looked up at pc - 1.
bool is_sigreturn_trampoline(uintptr_t pc) {
  static constexpr uint8_t kCode[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
  return memcmp(reinterpret_cast<const void*>(pc), kCode, sizeof kCode) == 0;
}

UnwindRule unsupported() {
  UnwindRule rule;
  rule.kind = UnwindRule::kUnsupported;
  return rule;
}

UnwindRule no_unwind_info() {
  UnwindRule rule = unsupported();
  rule.no_info = true;
  return rule;
}

}  // namespace

uint64_t UnwindRule::pack(uint32_t generation) const {
  // kind:2 cfa_from_rbp:1 rbp_saved:1 generation:16 ra_offset:10 rbp_offset:10 cfa_offset:24;
  // kUnsupported keeps no_info where cfa_from_rbp goes.
  auto fits = [](int64_t v, int bits) { return v >= -(1ll << (bits - 1)) && v < (1ll << (bits - 1)); };
  const bool ok = kind != kStep || (fits(ra_offset, 10) && fits(rbp_offset, 10) && fits(cfa_offset, 24));
  const uint64_t k = ok ? kind : kUnsupported;
  const bool flag = k == kUnsupported ? kind == kUnsupported && no_info : cfa_from_rbp;
  uint64_t bits = k | (uint64_t{flag} << 2) | (uint64_t{k != kUnsupported && rbp_saved} << 3) |
                  (uint64_t{generation & kGenerationMask} << 4);
  if (ok && kind == kStep) {
    bits |= (static_cast<uint64_t>(ra_offset) & 0x3ff) << 20;
    bits |= (static_cast<uint64_t>(rbp_offset) & 0x3ff) << 30;
    bits |= (static_cast<uint64_t>(cfa_offset) & 0xffffff) << 40;
  }
  return bits;
}

UnwindRule find_unwind_rule(uintptr_t pc, bool is_return_address) {
  const uintptr_t lookup = is_return_address ? pc - 1 : pc;
  dl_find_object object;
  if (_dl_find_object(reinterpret_cast<void*>(lookup), &object) != 0 || !object.dlfo_eh_frame)
    return unsupported();
  if (is_return_address && pc + 9 <= reinterpret_cast<uintptr_t>(object.dlfo_map_end) &&
      is_sigreturn_trampoline(pc))
    return unsupported();
  uintptr_t begin = 0;
  const uint8_t* fde = find_fde(static_cast<const uint8_t*>(object.dlfo_eh_frame), lookup, &begin);
  if (!fde) return no_unwind_info();
  const uint8_t *body, *end;
  if (!entry_bounds(fde, &body, &end)) return unsupported();
  Reader r{body, end};
  const uint32_t cie_pointer = r.u32();
  Cie cie;
  if (cie_pointer == 0 || !parse_cie(body - cie_pointer, cie) || cie.signal_frame)
    return unsupported();
  r.encoded_value(cie.fde_encoding);                       // initial location: from the table
  const uint64_t range = r.encoded_value(cie.fde_encoding & 0x0f);
  if (r.failed) return unsupported();
  if (lookup >= begin + range) return no_unwind_info();  // a gap between functions
  if (cie.has_augmentation_data) {
    const uint64_t len = r.uleb();
    if (!r.has(len)) return unsupported();
    r.p += len;
  }
  RegisterRules initial;
  if (!run_cfa_program(Reader{cie.instructions, cie.end}, cie, 0, 0, initial, initial))
    return unsupported();
  RegisterRules rules = initial;
  if (!run_cfa_program(r, cie, begin, lookup, initial, rules)) return unsupported();

  if (rules.cfa_unsupported || rules.rsp_has_rule) return unsupported();
  if (rules.cfa_register != kRegRsp && rules.cfa_register != kRegRbp) return unsupported();
  UnwindRule rule;
  if (rules.ra == RegisterRules::kUndefined) {
    rule.kind = UnwindRule::kOutermost;
    return rule;
  }
  if (rules.ra != RegisterRules::kAtCfaOffset) return unsupported();
  if (rules.rbp != RegisterRules::kSame && rules.rbp != RegisterRules::kAtCfaOffset)
    return unsupported();
  rule.kind = UnwindRule::kStep;
  rule.cfa_from_rbp = rules.cfa_register == kRegRbp;
  rule.cfa_offset = static_cast<int32_t>(rules.cfa_offset);
  rule.ra_offset = static_cast<int32_t>(rules.ra_offset);
  rule.rbp_saved = rules.rbp == RegisterRules::kAtCfaOffset;
  rule.rbp_offset = static_cast<int32_t>(rules.rbp_offset);
  if (rule.cfa_offset != rules.cfa_offset) return unsupported();
  return rule;
}

}  // namespace heapline::preload
