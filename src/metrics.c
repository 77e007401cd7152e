/*
 * src/metrics.c: see metrics.h.
 */
#include "config.h"

#include "src/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "crypto/item.h"
#include "src/node.h"

/* [kind - 1][source][result]: RUMOR_ITEM_TX = 1, RUMOR_ITEM_BLOCK = 2 */
static uint64_t item_counts[2][RUMOR_METRICS_SOURCES][RUMOR_METRICS_RESULTS];
static struct rumor_metrics_histogram stored_latency[RUMOR_METRICS_SOURCES];

const uint64_t rumor_metrics_latency_bounds_us[RUMOR_METRICS_LATENCY_BUCKETS - 1] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000,
};

static int kind_slot(int kind)
{
	switch (kind) {
	case RUMOR_ITEM_TX:
		return 0;
	case RUMOR_ITEM_BLOCK:
		return 1;
	}
	return -1;
}

void rumor_metrics_item(int kind, enum rumor_metrics_source source,
			enum rumor_metrics_result result)
{
	int k = kind_slot(kind);
	if (k < 0 || (unsigned)source >= RUMOR_METRICS_SOURCES ||
	    (unsigned)result >= RUMOR_METRICS_RESULTS)
		return;
	__atomic_add_fetch(&item_counts[k][source][result], 1, __ATOMIC_RELAXED);
}

uint64_t rumor_metrics_item_count(int kind, enum rumor_metrics_source source,
				  enum rumor_metrics_result result)
{
	int k = kind_slot(kind);
	if (k < 0 || (unsigned)source >= RUMOR_METRICS_SOURCES ||
	    (unsigned)result >= RUMOR_METRICS_RESULTS)
		return 0;
	return __atomic_load_n(&item_counts[k][source][result], __ATOMIC_RELAXED);
}

void rumor_metrics_item_stored_us(enum rumor_metrics_source source, uint64_t us)
{
	if ((unsigned)source >= RUMOR_METRICS_SOURCES)
		return;
	struct rumor_metrics_histogram *h = &stored_latency[source];
	size_t i = 0;
	while (i < RUMOR_METRICS_LATENCY_BUCKETS - 1 && us > rumor_metrics_latency_bounds_us[i])
		i++;
	__atomic_add_fetch(&h->counts[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->sum_us, us, __ATOMIC_RELAXED);
}

void rumor_metrics_item_stored_histogram(enum rumor_metrics_source source,
					 struct rumor_metrics_histogram *out)
{
	memset(out, 0, sizeof(*out));
	if ((unsigned)source >= RUMOR_METRICS_SOURCES)
		return;
	const struct rumor_metrics_histogram *h = &stored_latency[source];
	for (size_t i = 0; i < RUMOR_METRICS_LATENCY_BUCKETS; i++)
		out->counts[i] = __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
	out->sum_us = __atomic_load_n(&h->sum_us, __ATOMIC_RELAXED);
}

void rumor_metrics_submitted(int kind, enum rumor_metrics_source source, int status,
			     uint64_t start_ns)
{
	rumor_metrics_outcome(kind, source, status, (uv_hrtime() - start_ns) / 1000);
}

void rumor_metrics_outcome(int kind, enum rumor_metrics_source source, int status,
			   uint64_t latency_us)
{
	switch ((enum rumor_submit_status)status) {
	case RUMOR_SUBMIT_ACCEPTED:
		rumor_metrics_item(kind, source, RUMOR_METRICS_ACCEPTED);
		rumor_metrics_item_stored_us(source, latency_us);
		return;
	case RUMOR_SUBMIT_KNOWN:
		rumor_metrics_item(kind, source, RUMOR_METRICS_DUPLICATE);
		return;
	case RUMOR_SUBMIT_EDECODE:
	case RUMOR_SUBMIT_EREJECT:
		rumor_metrics_item(kind, source, RUMOR_METRICS_INVALID);
		return;
	case RUMOR_SUBMIT_ESTORE:
	case RUMOR_SUBMIT_EBUSY:
	case RUMOR_SUBMIT_ESHUTDOWN:
		rumor_metrics_item(kind, source, RUMOR_METRICS_FAILED);
		return;
	}
}

const char *rumor_metrics_source_name(enum rumor_metrics_source source)
{
	switch (source) {
	case RUMOR_METRICS_RPC:
		return "rpc";
	case RUMOR_METRICS_PEER:
		return "peer";
	}
	return "?";
}

const char *rumor_metrics_result_name(enum rumor_metrics_result result)
{
	switch (result) {
	case RUMOR_METRICS_ACCEPTED:
		return "accepted";
	case RUMOR_METRICS_DUPLICATE:
		return "duplicate";
	case RUMOR_METRICS_INVALID:
		return "invalid";
	case RUMOR_METRICS_FAILED:
		return "failed";
	}
	return "?";
}

/* ---- text ------------------------------------------------------------ */

void rumor_metrics_text_init(struct rumor_metrics_text *t)
{
	memset(t, 0, sizeof(*t));
}

void rumor_metrics_text_free(struct rumor_metrics_text *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

char *rumor_metrics_text_take(struct rumor_metrics_text *t, size_t *len)
{
	if (t->failed || !t->buf) {
		rumor_metrics_text_free(t);
		return NULL;
	}
	char *b = t->buf;
	*len = t->len;
	memset(t, 0, sizeof(*t));
	return b;
}

static int reserve(struct rumor_metrics_text *t, size_t more)
{
	if (t->failed)
		return -1;
	if (t->len + more + 1 <= t->cap)
		return 0;
	size_t cap = t->cap ? t->cap : 4096;
	while (cap < t->len + more + 1)
		cap *= 2;
	char *b = realloc(t->buf, cap);
	if (!b) {
		t->failed = 1;
		return -1;
	}
	t->buf = b;
	t->cap = cap;
	return 0;
}

static void append(struct rumor_metrics_text *t, const char *s, size_t n)
{
	if (reserve(t, n))
		return;
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void appendf(struct rumor_metrics_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void appendf(struct rumor_metrics_text *t, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* Every caller formats names and numbers well under 256 bytes. */
	if ((size_t)n >= sizeof(tmp))
		n = (int)sizeof(tmp) - 1;
	append(t, tmp, (size_t)n);
}

/* HELP text: backslash and newline escaped. */
static void append_help(struct rumor_metrics_text *t, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			append(t, "\\\\", 2);
		else if (*s == '\n')
			append(t, "\\n", 2);
		else
			append(t, s, 1);
	}
}

/* A label value: backslash, double quote and newline escaped. */
static void append_label_value(struct rumor_metrics_text *t, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			append(t, "\\\\", 2);
		else if (*s == '"')
			append(t, "\\\"", 2);
		else if (*s == '\n')
			append(t, "\\n", 2);
		else
			append(t, s, 1);
	}
}

void rumor_metrics_family(struct rumor_metrics_text *t, const char *name, const char *type,
			  const char *help)
{
	appendf(t, "# HELP %s ", name);
	append_help(t, help);
	appendf(t, "\n# TYPE %s %s\n", name, type);
}

static void append_labels(struct rumor_metrics_text *t, const char *const *labels,
			  const char *le)
{
	int any = (labels && labels[0]) || le;
	if (!any)
		return;
	append(t, "{", 1);
	int first = 1;
	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		if (!first)
			append(t, ",", 1);
		first = 0;
		append(t, labels[i], strlen(labels[i]));
		append(t, "=\"", 2);
		append_label_value(t, labels[i + 1]);
		append(t, "\"", 1);
	}
	if (le) {
		if (!first)
			append(t, ",", 1);
		appendf(t, "le=\"%s\"", le);
	}
	append(t, "}", 1);
}

void rumor_metrics_sample_u64(struct rumor_metrics_text *t, const char *name, uint64_t value,
			      const char *const *labels)
{
	append(t, name, strlen(name));
	append_labels(t, labels, NULL);
	appendf(t, " %llu\n", (unsigned long long)value);
}

void rumor_metrics_sample_double(struct rumor_metrics_text *t, const char *name, double value,
				 const char *const *labels)
{
	append(t, name, strlen(name));
	append_labels(t, labels, NULL);
	appendf(t, " %.17g\n", value);
}

void rumor_metrics_histogram_us(struct rumor_metrics_text *t, const char *name,
				const uint64_t *bounds_us, size_t n_bounds, const uint64_t *counts,
				uint64_t sum_us, const char *const *labels)
{
	char sample[128], le[32];
	uint64_t cumulative = 0;
	snprintf(sample, sizeof(sample), "%s_bucket", name);
	for (size_t i = 0; i <= n_bounds; i++) {
		cumulative += counts[i];
		if (i < n_bounds)
			snprintf(le, sizeof(le), "%g", (double)bounds_us[i] / 1e6);
		else
			snprintf(le, sizeof(le), "+Inf");
		append(t, sample, strlen(sample));
		append_labels(t, labels, le);
		appendf(t, " %llu\n", (unsigned long long)cumulative);
	}
	snprintf(sample, sizeof(sample), "%s_sum", name);
	rumor_metrics_sample_double(t, sample, (double)sum_us / 1e6, labels);
	snprintf(sample, sizeof(sample), "%s_count", name);
	rumor_metrics_sample_u64(t, sample, cumulative, labels);
}
