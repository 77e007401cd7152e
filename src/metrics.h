/*
 * src/metrics.h: the node's metrics: process-wide counters that the code
 * paths bump (items by kind, source and outcome; item-to-store latency), and
 * a writer of the Prometheus text exposition format (version 0.0.4) that
 * src/node_metrics.c fills from these and from the modules' stats APIs.
 *
 * Counters are atomics (relaxed): bumped on the loop thread, read by the
 * renderer; nothing here allocates except the text buffer.
 *
 * Naming: every family starts with "rumor_", counters end in "_total",
 * quantities carry their unit ("_bytes", "_seconds").  Label values are
 * escaped as the format requires (backslash, double quote, newline).
 */
#ifndef RUMOR_SRC_METRICS_H
#define RUMOR_SRC_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* ---- item outcomes -------------------------------------------------- */

enum rumor_metrics_source { RUMOR_METRICS_RPC = 0, RUMOR_METRICS_PEER = 1 };
#define RUMOR_METRICS_SOURCES 2

enum rumor_metrics_result {
	RUMOR_METRICS_ACCEPTED = 0,  /* new, stored */
	RUMOR_METRICS_DUPLICATE = 1, /* already stored (or already being stored) */
	RUMOR_METRICS_INVALID = 2,   /* undecodable, or a rule or signature failed */
	RUMOR_METRICS_FAILED = 3,    /* not the item's fault: busy, store error, shutdown */
};
#define RUMOR_METRICS_RESULTS 4

/* kind: RUMOR_ITEM_TX or RUMOR_ITEM_BLOCK (crypto/item.h); anything else
 * is ignored. */
void rumor_metrics_item(int kind, enum rumor_metrics_source source,
			enum rumor_metrics_result result);
uint64_t rumor_metrics_item_count(int kind, enum rumor_metrics_source source,
				  enum rumor_metrics_result result);
/* From the moment the node received an accepted item (RPC request or peer
 * message) to its store commit, in microseconds. */
void rumor_metrics_item_stored_us(enum rumor_metrics_source source, uint64_t us);

/* A submission's outcome (status: enum rumor_submit_status, src/node.h),
 * counted by kind and source; for ACCEPTED also the time since start_ns
 * (uv_hrtime() when the item arrived). */
void rumor_metrics_submitted(int kind, enum rumor_metrics_source source, int status,
			     uint64_t start_ns);
/* The same with the time already measured (latency_us: arrival to store
 * commit, used for ACCEPTED only). */
void rumor_metrics_outcome(int kind, enum rumor_metrics_source source, int status,
			   uint64_t latency_us);

const char *rumor_metrics_source_name(enum rumor_metrics_source source);
const char *rumor_metrics_result_name(enum rumor_metrics_result result);

/* ---- histograms ------------------------------------------------------ */

/* Fixed buckets: counts[i] holds observations <= bounds[i] (and over
 * bounds[i-1]), counts[n_bounds] the rest; not cumulative (the writer
 * makes them so). */
#define RUMOR_METRICS_LATENCY_BUCKETS 13
extern const uint64_t rumor_metrics_latency_bounds_us[RUMOR_METRICS_LATENCY_BUCKETS - 1];
struct rumor_metrics_histogram {
	uint64_t counts[RUMOR_METRICS_LATENCY_BUCKETS];
	uint64_t sum_us;
};
void rumor_metrics_item_stored_histogram(enum rumor_metrics_source source,
					 struct rumor_metrics_histogram *out);

/* ---- the text format ------------------------------------------------- */

struct rumor_metrics_text {
	char *buf; /* NUL-terminated; owned */
	size_t len, cap;
	int failed; /* out of memory: the text is incomplete */
};
void rumor_metrics_text_init(struct rumor_metrics_text *t);
void rumor_metrics_text_free(struct rumor_metrics_text *t);
/* Gives up the buffer (caller frees); NULL when failed. */
char *rumor_metrics_text_take(struct rumor_metrics_text *t, size_t *len);

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge,
 * histogram).  Call once per family, before its samples. */
void rumor_metrics_family(struct rumor_metrics_text *t, const char *name, const char *type,
			  const char *help);
/* One sample.  labels: NULL, or "k1", "v1", "k2", "v2", ..., NULL (values
 * are escaped). */
void rumor_metrics_sample_u64(struct rumor_metrics_text *t, const char *name, uint64_t value,
			      const char *const *labels);
void rumor_metrics_sample_double(struct rumor_metrics_text *t, const char *name, double value,
				 const char *const *labels);
/* A whole histogram sample set in seconds: name_bucket{le=...} (cumulative,
 * ending with +Inf), name_sum, name_count.  counts has n_bounds + 1 slots;
 * bounds and sum are microseconds.  labels as above (le is appended). */
void rumor_metrics_histogram_us(struct rumor_metrics_text *t, const char *name,
				const uint64_t *bounds_us, size_t n_bounds, const uint64_t *counts,
				uint64_t sum_us, const char *const *labels);

#endif
