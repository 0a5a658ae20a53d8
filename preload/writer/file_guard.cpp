#include "file_guard.h"

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>

#include "trace_file.h"

namespace heapline::preload {
namespace {

struct sigaction g_previous_action;
std::atomic<bool> g_installed{false};
std::atomic<bool> g_fault_caught{false};

// A SIGBUS that is not ours: do what would have happened without heapline.
void forward(int sig, siginfo_t* info, void* context) {
  const struct sigaction& previous = g_previous_action;
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  const bool sent = info->si_code <= 0;  // kill(), raise(), sigqueue(): not a fault
  if (previous.sa_handler == SIG_IGN && sent) return;
  // Default action: restore it. A fault then happens again when we return and kills the
  // process as it would have; a sent signal is raised again (blocked until we return).
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigaction(SIGBUS, &default_action, nullptr);
  if (sent) raise(SIGBUS);
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  TraceFile& file = trace_file();
  if (info && info->si_code > 0 && file.maps(info->si_addr)) {
    // The file was truncated under the mapping. Anonymous memory in its place lets the
    // interrupted store (a record, a chunk header) complete; nothing is appended to the file
    // any more, and the drain says so on its next pass. mmap is a plain system call: safe here.
    file.detach_mapping();
    g_fault_caught.store(true, std::memory_order_release);
    return;
  }
  forward(sig, info, context);
}

}  // namespace

void install_file_guard() {
  if (g_installed.exchange(true)) return;
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGBUS, &action, &g_previous_action);
}

bool trace_file_damaged(char* why, size_t why_size) {
  TraceFile& file = trace_file();
  struct stat st {};
  const bool have_stat = file.fd() >= 0 && fstat(file.fd(), &st) == 0;
  // First: a full disk also makes stores into the mapping fault, and it is the cause to name.
  if (file.out_of_space()) {
    file.give_up();
    snprintf(why, why_size,
             "no space left for trace file '%s'; recording stopped, what was recorded before "
             "is kept (the program is not affected)",
             file.path());
    return true;
  }
  if (g_fault_caught.load(std::memory_order_acquire) ||
      (have_stat && static_cast<uint64_t>(st.st_size) < file.map_size())) {
    file.detach_mapping();
    snprintf(why, why_size,
             "trace file '%s' was truncated while the program ran; recording stopped (the "
             "program is not affected)",
             file.path());
    return true;
  }
  if (have_stat && st.st_nlink == 0) {
    file.give_up();
    snprintf(why, why_size,
             "trace file '%s' was deleted while the program ran; recording stopped (the program "
             "is not affected)",
             file.path());
    return true;
  }
  return false;
}

}  // namespace heapline::preload
