// Known truth for the analyzer tests: memory freed at exit, after main returned, is not leaked.
//   - a static object's destructor frees 5555 bytes (@static_alloc)
//   - an atexit handler frees 4444 bytes (@atexit_alloc)
//   - libanalysis_finalib.so (linked, so finalized after the preloaded recorder) frees 3333
//     bytes from its ELF destructor (@finalib_alloc in analysis_finalib.c)
//   - only 2 x 1111 bytes (@real_leak) really leak
#include <cstdlib>

extern "C" void finalib_keep(size_t size);

namespace {

void* volatile g_sink[4];
void* g_atexit_block;

struct Holder {
  void* block = nullptr;
  ~Holder() { std::free(block); }
};
Holder g_holder;

void free_at_exit() { std::free(g_atexit_block); }

}  // namespace

int main() {
  g_holder.block = std::malloc(5555);  // @static_alloc
  g_atexit_block = std::malloc(4444);  // @atexit_alloc
  std::atexit(free_at_exit);
  finalib_keep(3333);  // @finalib_call
  for (int i = 0; i < 2; ++i) g_sink[i] = std::malloc(1111);  // @real_leak
  return 0;
}
