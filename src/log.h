/*
 * src/log.h: logging to stderr, one line per event:
 *   2026-11-23T17:40:00.123456Z info: message
 * Levels below the configured one are dropped.  rumor_log_broken() is for
 * broken invariants that the node survives: its line contains "BROKEN" so
 * tests fail on it.
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

void rumor_log_set_level(enum rumor_log_level level);
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
