// Calls malloc with rbp holding values no frame pointer could hold, as code built without frame
// pointers may leave it (rbp is then an ordinary register). A frame-pointer walk that trusts rbp
// reads whatever it points to; heapline's must stop instead. Each value makes kBlocks leaked
// blocks of 64 bytes at the line marked @hostile_alloc. Built with -fomit-frame-pointer, so the
// unwind tables describe this frame through rsp alone, and the asm tells them where the caller's
// rbp went (as compiled code always does): unwinders that follow the tables step over it.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { kBlocks = 10 };

__attribute__((noinline)) void keep_frame_aligned(void) { __asm__ volatile(""); }

// malloc(64) with rbp = `fake` for the call's duration. The real call before the asm makes this
// a non-leaf function: rsp is 16-byte aligned at the asm's call and nothing lives in a red zone.
__attribute__((noinline)) void* malloc_with_rbp(uintptr_t fake) {
  keep_frame_aligned();
  void* p;
  __asm__ volatile(  // @hostile_alloc (the line DWARF gives the whole asm)
      "mov %%rbp, %%r12\n\t"
      ".cfi_register %%rbp, %%r12\n\t"  // the caller's rbp is in r12 now, as compilers say it
      "mov %1, %%rbp\n\t"
      "mov $64, %%edi\n\t"
      "call malloc@PLT\n\t"
      "mov %%r12, %%rbp\n\t"
      ".cfi_restore %%rbp\n\t"
      : "=a"(p)
      : "r"(fake)
      : "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "xmm0", "xmm1", "xmm2",
        "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "xmm15", "cc", "memory");
  return p;
}

int main(void) {
  const uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  const uintptr_t fakes[] = {
      (uintptr_t)-16,    // the top of the address space: rbp + 16 wraps to 0
      (uintptr_t)-8,     // misaligned for a frame's two words, and wrapping
      16,                // the first page
      here - 1,          // misaligned, inside the stack
      here + (1 << 30),  // far above this thread's stack
  };
  size_t leaked = 0;
  for (size_t i = 0; i < sizeof fakes / sizeof fakes[0]; ++i)
    for (int b = 0; b < kBlocks; ++b) leaked += malloc_with_rbp(fakes[i]) != NULL;
  printf("%zu\n", leaked);
  return 0;
}
