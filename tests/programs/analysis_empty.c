// Does nothing: what the C runtime (and the recorder's own runtime) allocate by themselves.
// The analyzer tests subtract this from the figures of analysis_leaks.c.
int main(void) { return 0; }
