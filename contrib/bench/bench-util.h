/*
 * contrib/bench/bench-util.h: helpers shared by the benchmark programs:
 * clocks, CPU time, and error exits that name the program.
 */
#ifndef RUMOR_BENCH_UTIL_H
#define RUMOR_BENCH_UTIL_H

#include <stddef.h>

#define EXIT_FAILED 1
#define EXIT_USAGE 2

/* The name error messages start with ("bench-ingest", ...). */
extern const char *bench_program;

/* Seconds on the monotonic clock. */
double monotonic_s(void);
/* User + system CPU seconds of this process. */
double process_cpu_s(void);
/* "PROGRAM: message (see PROGRAM --help)" on stderr, exit EXIT_USAGE. */
void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* "PROGRAM: message" on stderr, exit EXIT_USAGE. */
void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* malloc that never returns NULL (fatal instead); size 0 allowed. */
void *xmalloc(size_t size);

#endif
