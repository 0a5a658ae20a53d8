// A shared library whose constructor captures its stack through the test program's probe
// (unwind_rules_test.cpp): shared libraries' constructors run from the dynamic loader's
// _dl_start_user, code without unwind info, where the chain ends.
void unwind_probe_from_constructor(void);

int unwind_constructor_ran = 0;

__attribute__((constructor)) static void probe_at_load(void) {
  unwind_probe_from_constructor();
  unwind_constructor_ran = 1;
}
