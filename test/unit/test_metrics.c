/*
 * test/unit/test_metrics.c: src/metrics.h: the Prometheus text writer
 * (escaping, histograms made cumulative, sums in seconds) and the item
 * counters, with fixed inputs.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/item.h"
#include "src/metrics.h"
#include "src/metrics_request.h"
#include "src/node.h"

static void test_text(void **state)
{
	(void)state;
	struct rumor_metrics_text t;
	rumor_metrics_text_init(&t);
	rumor_metrics_family(&t, "rumor_x_total", "counter", "Help with \\ and\nnewline.");
	const char *labels[] = {"path", "a\"b\\c\nd", "kind", "tx", NULL};
	rumor_metrics_sample_u64(&t, "rumor_x_total", 18446744073709551615ull, labels);
	rumor_metrics_sample_u64(&t, "rumor_x_total", 0, NULL);
	rumor_metrics_sample_double(&t, "rumor_y_seconds", 0.25, NULL);
	size_t len = 0;
	char *text = rumor_metrics_text_take(&t, &len);
	assert_non_null(text);
	assert_string_equal(text, "# HELP rumor_x_total Help with \\\\ and\\nnewline.\n"
				  "# TYPE rumor_x_total counter\n"
				  "rumor_x_total{path=\"a\\\"b\\\\c\\nd\",kind=\"tx\"} "
				  "18446744073709551615\n"
				  "rumor_x_total 0\n"
				  "rumor_y_seconds 0.25\n");
	assert_int_equal(len, strlen(text));
	free(text);
}

static void test_histogram(void **state)
{
	(void)state;
	static const uint64_t bounds[] = {1000, 250000};
	const uint64_t counts[] = {2, 0, 3}; /* per bucket; the last is over 0.25 s */
	struct rumor_metrics_text t;
	rumor_metrics_text_init(&t);
	const char *labels[] = {"source", "rpc", NULL};
	rumor_metrics_histogram_us(&t, "rumor_h_seconds", bounds, 2, counts, 1500000, labels);
	size_t len;
	char *text = rumor_metrics_text_take(&t, &len);
	assert_string_equal(text, "rumor_h_seconds_bucket{source=\"rpc\",le=\"0.001\"} 2\n"
				  "rumor_h_seconds_bucket{source=\"rpc\",le=\"0.25\"} 2\n"
				  "rumor_h_seconds_bucket{source=\"rpc\",le=\"+Inf\"} 5\n"
				  "rumor_h_seconds_sum{source=\"rpc\"} 1.5\n"
				  "rumor_h_seconds_count{source=\"rpc\"} 5\n");
	free(text);
}

static void test_counters(void **state)
{
	(void)state;
	rumor_metrics_item(RUMOR_ITEM_TX, RUMOR_METRICS_PEER, RUMOR_METRICS_DUPLICATE);
	rumor_metrics_item(RUMOR_ITEM_TX, RUMOR_METRICS_PEER, RUMOR_METRICS_DUPLICATE);
	rumor_metrics_item(99, RUMOR_METRICS_PEER, RUMOR_METRICS_DUPLICATE); /* ignored */
	assert_int_equal(rumor_metrics_item_count(RUMOR_ITEM_TX, RUMOR_METRICS_PEER,
						  RUMOR_METRICS_DUPLICATE),
			 2);
	assert_int_equal(rumor_metrics_item_count(RUMOR_ITEM_BLOCK, RUMOR_METRICS_PEER,
						  RUMOR_METRICS_DUPLICATE),
			 0);

	/* Outcomes map to results; ACCEPTED is also timed. */
	uint64_t now = uv_hrtime();
	rumor_metrics_submitted(RUMOR_ITEM_BLOCK, RUMOR_METRICS_RPC, RUMOR_SUBMIT_ACCEPTED, now);
	rumor_metrics_submitted(RUMOR_ITEM_BLOCK, RUMOR_METRICS_RPC, RUMOR_SUBMIT_KNOWN, now);
	rumor_metrics_submitted(RUMOR_ITEM_BLOCK, RUMOR_METRICS_RPC, RUMOR_SUBMIT_EDECODE, now);
	rumor_metrics_submitted(RUMOR_ITEM_BLOCK, RUMOR_METRICS_RPC, RUMOR_SUBMIT_EREJECT, now);
	rumor_metrics_submitted(RUMOR_ITEM_BLOCK, RUMOR_METRICS_RPC, RUMOR_SUBMIT_EBUSY, now);
	assert_int_equal(rumor_metrics_item_count(RUMOR_ITEM_BLOCK, RUMOR_METRICS_RPC,
						  RUMOR_METRICS_ACCEPTED),
			 1);
	assert_int_equal(rumor_metrics_item_count(RUMOR_ITEM_BLOCK, RUMOR_METRICS_RPC,
						  RUMOR_METRICS_DUPLICATE),
			 1);
	assert_int_equal(rumor_metrics_item_count(RUMOR_ITEM_BLOCK, RUMOR_METRICS_RPC,
						  RUMOR_METRICS_INVALID),
			 2);
	assert_int_equal(rumor_metrics_item_count(RUMOR_ITEM_BLOCK, RUMOR_METRICS_RPC,
						  RUMOR_METRICS_FAILED),
			 1);
	struct rumor_metrics_histogram h;
	rumor_metrics_item_stored_histogram(RUMOR_METRICS_RPC, &h);
	uint64_t n = 0;
	for (size_t i = 0; i < RUMOR_METRICS_LATENCY_BUCKETS; i++)
		n += h.counts[i];
	assert_int_equal(n, 1);

	/* Bucket edges: a value equal to a bound is in that bucket. */
	rumor_metrics_item_stored_us(RUMOR_METRICS_PEER, 500);
	rumor_metrics_item_stored_us(RUMOR_METRICS_PEER, 501);
	rumor_metrics_item_stored_us(RUMOR_METRICS_PEER, 99999999);
	rumor_metrics_item_stored_histogram(RUMOR_METRICS_PEER, &h);
	assert_int_equal(h.counts[0], 1);
	assert_int_equal(h.counts[1], 1);
	assert_int_equal(h.counts[RUMOR_METRICS_LATENCY_BUCKETS - 1], 1);
	assert_int_equal(h.sum_us, 500 + 501 + 99999999);
}

static enum rumor_metrics_verdict parse(struct rumor_metrics_request *r, const char *text,
				       size_t piece)
{
	rumor_metrics_request_init(r);
	enum rumor_metrics_verdict v = RUMOR_METRICS_REQUEST_MORE;
	size_t len = strlen(text);
	for (size_t off = 0; off < len && v == RUMOR_METRICS_REQUEST_MORE; off += piece)
		v = rumor_metrics_request_feed(r, text + off, len - off < piece ? len - off : piece);
	return v;
}

static void test_request(void **state)
{
	(void)state;
	struct rumor_metrics_request r;
	for (size_t piece = 1; piece <= 64; piece *= 4) {
		assert_int_equal(parse(&r, "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", piece),
				 RUMOR_METRICS_REQUEST_GET);
		assert_string_equal(r.path, "/metrics");
		assert_int_equal(r.head_only, 0);
	}
	assert_int_equal(parse(&r, "HEAD /health HTTP/1.0\r\n\r\n", 7), RUMOR_METRICS_REQUEST_GET);
	assert_string_equal(r.path, "/health");
	assert_int_equal(r.head_only, 1);
	assert_int_equal(parse(&r, "GET /metrics HTTP/1.1\r\n", 100), RUMOR_METRICS_REQUEST_MORE);
	/* A pipelined second request is not parsed into the first (it was:
	 * the fuzzer found the paths appended). */
	assert_int_equal(parse(&r, "GET /a?b HTTP/1.1\r\n\r\nGET /c?d HTTP/1.1\r\n\r\n", 100),
			 RUMOR_METRICS_REQUEST_GET);
	assert_string_equal(r.path, "/a");

	assert_int_equal(parse(&r, "POST /metrics HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 100),
			 RUMOR_METRICS_REQUEST_REFUSE);
	assert_int_equal(r.status, 405);
	assert_int_equal(parse(&r, "GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nxy", 100),
			 RUMOR_METRICS_REQUEST_REFUSE);
	assert_int_equal(r.status, 400);
	assert_int_equal(parse(&r, "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 100),
			 RUMOR_METRICS_REQUEST_REFUSE);
	assert_int_equal(r.status, 400);
	assert_int_equal(parse(&r, "\x01\x02garbage\r\n\r\n", 100), RUMOR_METRICS_REQUEST_REFUSE);
	assert_int_equal(r.status, 400);

	/* A path over the limit: 404; a head over the limit: 431. */
	static const char head[] = "GET / HTTP/1.1\r\nX-Long: ";
	static char big[RUMOR_METRICS_REQUEST_HEAD_MAX + 64];
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET /", 5);
	static const char tail[] = " HTTP/1.1\r\n\r\n";
	memcpy(big + 300, tail, sizeof(tail)); /* with its NUL */
	assert_int_equal(parse(&r, big, 50), RUMOR_METRICS_REQUEST_REFUSE);
	assert_int_equal(r.status, 404);
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, head, sizeof(head) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse(&r, big, 1000), RUMOR_METRICS_REQUEST_REFUSE);
	assert_int_equal(r.status, 431);
	/* Exactly at the limit and complete: still served. */
	size_t n = RUMOR_METRICS_REQUEST_HEAD_MAX;
	memset(big, 'a', n);
	memcpy(big, head, sizeof(head) - 1);
	memcpy(big + n - 4, "\r\n\r\n", 4);
	big[n] = '\0';
	assert_int_equal(parse(&r, big, 1000), RUMOR_METRICS_REQUEST_GET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
