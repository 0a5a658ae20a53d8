#include "live_replay.h"

#include <cmath>

namespace heapline::analysis {

uint64_t estimated_block_bytes(uint64_t size, uint64_t sample_bytes) {
  if (sample_bytes == 0) return size;
  const double p = -std::expm1(-static_cast<double>(size) / static_cast<double>(sample_bytes));
  const double weight = p > 0 ? 1 / p : 1;
  return static_cast<uint64_t>(std::llround(static_cast<double>(size) * weight));
}

void LiveReplay::emit(uint64_t time_ns, uint32_t stack_id, int64_t delta) {
  for (LiveChangeListener* l : listeners_) l->on_live_change(time_ns, stack_id, delta);
}

void LiveReplay::on_alloc(const AllocRecord& r) {
  // As in AllocationModel::on_alloc: a block still live at this address was freed.
  auto [block, inserted] = live_.try_emplace(r.address);
  if (!inserted) {
    emit(r.time_ns, block->stack_id, -static_cast<int64_t>(bytes_of(r.address, *block)));
    tick_order_.owe_free(r.time_ns, r.address);
  }
  *block = LiveBlock{sizes_.pack(r.address, r.size), r.stack_id};
  emit(r.time_ns, r.stack_id, static_cast<int64_t>(estimated_block_bytes(r.size, sample_bytes_)));
  // Freed by another thread in the same tick, its free merged before it (tick_order.h).
  if (TickOrder::Free early{}; tick_order_.take_early_free(r.time_ns, r.address, r.tid, &early))
    release(r.time_ns, r.address);
}

void LiveReplay::on_free(const FreeRecord& r) {
  if (tick_order_.take_owed_free(r.time_ns, r.address)) return;  // its block ended already
  if (!release(r.time_ns, r.address))  // allocated before recording started, or early
    tick_order_.add_early_free(r.time_ns, {r.address, r.tid, r.api});
}

bool LiveReplay::release(uint64_t time_ns, uint64_t address) {
  LiveBlock block;
  if (!live_.take(address, block)) return false;
  emit(time_ns, block.stack_id, -static_cast<int64_t>(bytes_of(address, block)));
  return true;
}

uint64_t LiveReplay::bytes_of(uint64_t address, const LiveBlock& block) {
  return estimated_block_bytes(sizes_.unpack(address, block.size), sample_bytes_);
}

void LiveReplay::on_rss(const RssRecord& r) {
  for (LiveChangeListener* l : listeners_) l->on_rss_sample(r.time_ns, r.rss_bytes);
}

void LiveReplay::finish() {
  for (LiveChangeListener* l : listeners_) l->on_replay_end();
}

}  // namespace heapline::analysis
