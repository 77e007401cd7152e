/*
 * src/log.c: see log.h.  Each line is formatted into one buffer and written
 * with a single write(2), so lines from different threads never interleave.
 */
#include "config.h"

#include "src/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum rumor_log_level current_level = RUMOR_LOG_INFO;

static const char *level_name(enum rumor_log_level level)
{
	switch (level) {
	case RUMOR_LOG_DEBUG:
		return "debug";
	case RUMOR_LOG_INFO:
		return "info";
	case RUMOR_LOG_WARN:
		return "warn";
	case RUMOR_LOG_ERROR:
		return "error";
	case RUMOR_LOG_NOTICE:
		return "notice";
	}
	return "?";
}

void rumor_log_set_level(enum rumor_log_level level)
{
	current_level = level;
}

int rumor_log_parse_level(const char *name, enum rumor_log_level *out)
{
	static const enum rumor_log_level all[] = {RUMOR_LOG_DEBUG, RUMOR_LOG_INFO, RUMOR_LOG_WARN,
						   RUMOR_LOG_ERROR};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(name, level_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

void rumor_log(enum rumor_log_level level, const char *fmt, ...)
{
	if (level < current_level)
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%06ldZ %s: ", ts.tv_nsec / 1000,
			      level_name(level));
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* Best effort: nothing useful to do if stderr is gone. */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
