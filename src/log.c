/*
 * src/log.c: see log.h.  Each line is formatted into one buffer and written
 * with a single write(2), so lines from different threads never interleave.
 *
 * The log file: log_fd is the descriptor every line goes to (stderr until
 * rumor_log_open).  Reopening opens the file again and dup2()s the new
 * descriptor onto log_fd, which is atomic: a thread writing at that moment
 * writes to the old file or the new one, never to a closed or reused
 * descriptor, and no line is lost.
 */
#include "config.h"

#include "src/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum rumor_log_level current_level = RUMOR_LOG_INFO;
static int log_fd = STDERR_FILENO;
static char log_path[4096];

static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

int rumor_log_open(const char *path)
{
	if (strlen(path) >= sizeof(log_path))
		return -ENAMETOOLONG;
	int fd = open_log(path);
	if (fd < 0)
		return fd;
	snprintf(log_path, sizeof(log_path), "%s", path);
	log_fd = fd;
	return 0;
}

int rumor_log_reopen(void)
{
	if (!log_path[0])
		return 0;
	int fd = open_log(log_path);
	if (fd < 0)
		return fd;
	int rc = dup2(fd, log_fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

void rumor_log_close(void)
{
	if (log_path[0] && log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
	log_path[0] = '\0';
}

const char *rumor_log_path(void)
{
	return log_path[0] ? log_path : NULL;
}

int rumor_log_ratelimit(struct rumor_log_ratelimit *rl, uint64_t *suppressed)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (rl->started && now_ms < rl->next_ms) {
		rl->suppressed++;
		return 0;
	}
	rl->started = 1;
	rl->next_ms = now_ms + rl->interval_ms;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return 1;
}

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
	/* Best effort: nothing useful to do if the log is gone. */
	ssize_t w = write(log_fd, line, n);
	(void)w;
}
