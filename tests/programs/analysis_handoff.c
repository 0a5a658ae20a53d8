// Known truth for the cross-thread merge: a producer thread allocates 200 000 blocks of 64 bytes
// at @handoff_alloc and hands each to a consumer thread, which frees it at once. Both spin, so a
// block is usually allocated and freed within the same 65 us tick of the trace's clock, where
// the reader cannot order the two threads' records by time. Nothing leaks; every free matches.
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

enum { kBlocks = 200000, kSlots = 64 };

static _Atomic(void*) g_slots[kSlots];  // single producer, single consumer ring

static void* consume(void* unused) {
  (void)unused;
  for (long i = 0; i < kBlocks; ++i) {
    _Atomic(void*)* slot = &g_slots[i % kSlots];
    void* p;
    while (!(p = atomic_exchange_explicit(slot, NULL, memory_order_acquire))) {
    }
    free(p);  // @handoff_free
  }
  return NULL;
}

int main(void) {
  pthread_t consumer;
  pthread_create(&consumer, NULL, consume, NULL);
  for (long i = 0; i < kBlocks; ++i) {
    _Atomic(void*)* slot = &g_slots[i % kSlots];
    while (atomic_load_explicit(slot, memory_order_relaxed)) {
    }
    atomic_store_explicit(slot, malloc(64), memory_order_release);  // @handoff_alloc
  }
  pthread_join(consumer, NULL);
  return 0;
}
