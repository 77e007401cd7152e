/*
 * src/log.h: logging to stderr or a file (--logfile), one line per event:
 *   2026-11-23T17:40:00.123456Z info: message
 * Levels below the configured one are dropped.  rumor_log_broken() is for
 * broken invariants that the node survives: its line contains "BROKEN" so
 * tests fail on it.
 *
 * Lines that concern an item name it by its short id (the first 16 hex
 * characters, RUMOR_LOG_ID_SHORT) and the peer by its short node id and
 * address.
 *
 * rumor_log_open/_reopen/_close are called from the main thread only (start,
 * SIGHUP, exit); rumor_log() may be called from any thread at any time, also
 * while the file is reopened.
 */
#ifndef RUMOR_SRC_LOG_H
#define RUMOR_SRC_LOG_H

enum rumor_log_level {
	RUMOR_LOG_DEBUG = 0,
	RUMOR_LOG_INFO = 1,
	RUMOR_LOG_WARN = 2,
	RUMOR_LOG_ERROR = 3,
	RUMOR_LOG_NOTICE = 4, /* not a settable level: never filtered */
};

#include <stdint.h>

void rumor_log_set_level(enum rumor_log_level level);
/* From now on, appends lines to path (created 0640 if missing) instead of
 * stderr.  Returns 0 or a negative errno (the log stays where it was). */
int rumor_log_open(const char *path);
/* Opens the file again (after logrotate moved it): later lines go to a new
 * file at the same path.  Returns 0 (also when logging to stderr) or a
 * negative errno, and then keeps writing to the old file. */
int rumor_log_reopen(void);
/* Back to stderr, closing the file. */
void rumor_log_close(void);
/* The file logged to, or NULL for stderr. */
const char *rumor_log_path(void);

/* Hex characters of an id shown in log lines. */
#define RUMOR_LOG_ID_SHORT 16

/* At most one line per interval_ms; the lines dropped meanwhile are counted
 * and reported with the next one.  Zero-initialise with interval_ms set. */
struct rumor_log_ratelimit {
	uint64_t interval_ms;
	uint64_t next_ms;
	uint64_t suppressed;
	int started;
};
/* 1: log now; *suppressed is how many were dropped since the last line.
 * 0: drop this one.  One thread per limiter. */
int rumor_log_ratelimit(struct rumor_log_ratelimit *rl, uint64_t *suppressed);
/* Parses "debug", "info", "warn", "error".  Returns 0 or -1. */
int rumor_log_parse_level(const char *name, enum rumor_log_level *out);
void rumor_log(enum rumor_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) rumor_log(RUMOR_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) rumor_log(RUMOR_LOG_INFO, __VA_ARGS__)
#define log_warn(...) rumor_log(RUMOR_LOG_WARN, __VA_ARGS__)
#define log_error(...) rumor_log(RUMOR_LOG_ERROR, __VA_ARGS__)
/* Always printed, whatever the level: start-up facts scripts rely on. */
#define log_notice(...) rumor_log(RUMOR_LOG_NOTICE, __VA_ARGS__)
#define log_broken(...) rumor_log(RUMOR_LOG_ERROR, "BROKEN: " __VA_ARGS__)

#endif
