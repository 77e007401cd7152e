/*
 * contrib/bench/bench-ingest.c: the two measuring halves of the rpc-ingest
 * benchmark.  contrib/bench/rpc-ingest drives them; see contrib/bench/README.md.
 *
 *   bench-ingest verify-rate [--threads=N] [--seconds=S] [--size=BYTES]
 *                            [--network=NAME] [--items=N]
 *     The baseline: how many transaction signatures this machine verifies
 *     per second with N threads (default: every online core).  Each
 *     verification is rumor_item_verify(), exactly the node's check (Ed25519
 *     over network id || encoding without the signature), on transactions
 *     that were built and decoded before the clock started.
 *
 *   bench-ingest load --connect=HOST:PORT (--cookie=FILE | --auth=USER:PASS)
 *                     [--count=N] [--size=BYTES] [--connections=K]
 *                     [--batch=B] [--network=NAME] [--ids-out=FILE]
 *                     [--timeout=S] [--label=NAME]
 *     Signs N fresh transactions (a new random key, nonces 0..N-1) and
 *     builds every HTTP request before the clock starts, then sends them
 *     over K keep-alive HTTP/1.1 connections: one thread per connection and
 *     one request in flight per connection (no pipelining).  B = 1 sends one
 *     JSON-RPC call per HTTP request, B > 1 sends JSON-RPC batches of B
 *     calls.  Every response is checked: status 200, a body framed by
 *     Content-Length, and for each call a result equal to the hex SHA-256 of
 *     the item sent (its id).  An item counts as accepted only then.
 *
 *   bench-ingest bigblock [--network=NAME] [--tx-count=N] [--height=H]
 *     Prints (stdout, hex, one line) a block signed by a fresh random key
 *     that names N random transaction ids (default: as many as fit in 4 MiB,
 *     the largest block), at height H (default 1, with a random parent).
 *     For contrib/bench/hostile and test/functional/test_rpc_hostile.py,
 *     which need the largest item there is.
 *
 * verify-rate and load print one JSON object on stdout (the result) and a human-readable
 * summary on stderr.  Exit status: 0 when every check passed, 1 when a call
 * or verification failed, 2 on a usage or set-up error.
 *
 * Invariants: all timing is CLOCK_MONOTONIC; nothing that the node is not
 * asked to do (key generation, signing, hex and JSON encoding) happens
 * between t0 and t1; a connection never has more than one request in flight,
 * so any byte received after a complete response is a server error.
 */
#include "config.h" /* _GNU_SOURCE for memmem() */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "crypto/hex.h"
#include "contrib/bench/bench-util.h"
#include "crypto/item.h"
#include "crypto/sign.h"

#define DEFAULT_NETWORK "bench"
#define DEFAULT_PAYLOAD_SIZE 250
#define DEFAULT_VERIFY_ITEMS 2048
#define DEFAULT_COUNT 20000
#define DEFAULT_CONNECTIONS 4
#define DEFAULT_TIMEOUT_S 60
#define CONNECTIONS_MAX 1024
#define BATCH_MAX 100000
/* Limits on what the server may send back before we call it broken. */
#define RESPONSE_HEADER_MAX (64u * 1024u)
#define RESPONSE_BODY_MAX (256u * 1024u * 1024u)
#define ERROR_TEXT_MAX 200


/* ---- small helpers ---------------------------------------------------- */

const char *bench_program = "bench-ingest";

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

static uint64_t parse_uint(const char *option, const char *text, uint64_t min, uint64_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (text[0] < '0' || text[0] > '9')
		usage_error("--%s: not a number: '%s'", option, text);
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		usage_error("--%s: '%s' is not a whole number in [%" PRIu64 ", %" PRIu64 "]", option,
			    text, min, max);
	return v;
}

static double parse_seconds(const char *option, const char *text)
{
	double v;
	char *end;

	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || *end != '\0' || end == text || !(v > 0.0) || v > 3600.0)
		usage_error("--%s: '%s' is not a number of seconds in (0, 3600]", option, text);
	return v;
}

/* Growable byte string for building requests. */
struct strbuf {
	char *data;
	size_t len, cap;
};

static void strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t cap = sb->cap ? sb->cap : 256;

	if (sb->len + extra + 1 <= sb->cap)
		return;
	while (cap < sb->len + extra + 1)
		cap *= 2;
	sb->data = realloc(sb->data, cap);
	if (sb->data == NULL)
		fatal("out of memory (%zu bytes)", cap);
	sb->cap = cap;
}

static void strbuf_append(struct strbuf *sb, const char *s, size_t len)
{
	strbuf_reserve(sb, len);
	memcpy(sb->data + sb->len, s, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

static void __attribute__((format(printf, 2, 3))) strbuf_printf(struct strbuf *sb, const char *fmt,
								 ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vsnprintf failed");
	strbuf_reserve(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

/* Prints a jansson object as one compact line on stdout and frees it. */
static void print_json_line(json_t *obj)
{
	char *text;

	if (obj == NULL)
		fatal("cannot build the result object");
	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	if (text == NULL)
		fatal("cannot encode the result object");
	printf("%s\n", text);
	fflush(stdout);
	free(text);
	json_decref(obj);
}

/* ---- transactions ----------------------------------------------------- */

struct bench_tx {
	uint8_t *encoding; /* malloc'd by rumor_tx_create() */
	size_t size;
	struct rumor_item item; /* borrows encoding */
	char id_hex[2 * RUMOR_ID_SIZE + 1];
};

/* Builds count transactions signed by one fresh random key, nonces
 * 0..count-1, random payloads of payload_size bytes, timestamp now. */
static struct bench_tx *make_transactions(const struct rumor_network *net, size_t count,
					  size_t payload_size)
{
	uint8_t pubkey[RUMOR_PUBKEY_SIZE], secret[RUMOR_SECRET_SIZE];
	struct bench_tx *txs = xcalloc(count, sizeof(*txs));
	uint8_t *payload = xmalloc(payload_size);
	uint64_t timestamp = (uint64_t)time(NULL);
	size_t i;

	rumor_sign_keypair_random(pubkey, secret);
	for (i = 0; i < count; i++) {
		const char *reason;

		rumor_random(payload, payload_size);
		txs[i].encoding = rumor_tx_create(net, secret, (uint64_t)i, timestamp, payload,
						  payload_size, &txs[i].size);
		if (txs[i].encoding == NULL)
			fatal("rumor_tx_create: %s", strerror(errno));
		reason = rumor_item_decode(&txs[i].item, txs[i].encoding, txs[i].size);
		if (reason != NULL)
			fatal("our own transaction does not decode: %s", reason);
		reason = rumor_item_verify(&txs[i].item, net);
		if (reason != NULL)
			fatal("our own transaction does not verify: %s", reason);
		rumor_hex_encode(txs[i].item.id, RUMOR_ID_SIZE, txs[i].id_hex);
	}
	sodium_memzero(secret, sizeof(secret));
	free(payload);
	return txs;
}

static void free_transactions(struct bench_tx *txs, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(txs[i].encoding);
	free(txs);
}

static void network_or_die(struct rumor_network *net, const char *name)
{
	if (rumor_network_init(net, name) != 0)
		usage_error("--network: invalid network name '%s'", name);
}

/* ---- verify-rate ------------------------------------------------------- */

struct verify_shared {
	const struct bench_tx *txs;
	size_t n_txs;
	const struct rumor_network *net;
	atomic_bool stop;
	pthread_barrier_t start;
};

struct verify_worker {
	struct verify_shared *shared;
	size_t first;
	uint64_t done;
	uint64_t failures;
	pthread_t thread;
};

static void *verify_main(void *arg)
{
	struct verify_worker *w = arg;
	struct verify_shared *sh = w->shared;
	size_t i = w->first;

	pthread_barrier_wait(&sh->start);
	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		if (rumor_item_verify(&sh->txs[i].item, sh->net) != NULL)
			w->failures++;
		w->done++;
		if (++i == sh->n_txs)
			i = 0;
	}
	return NULL;
}

static int cmd_verify_rate(int argc, char **argv)
{
	static const struct option options[] = {
		{"threads", required_argument, NULL, 't'}, {"seconds", required_argument, NULL, 's'},
		{"size", required_argument, NULL, 'z'},	   {"network", required_argument, NULL, 'n'},
		{"items", required_argument, NULL, 'i'},   {NULL, 0, NULL, 0},
	};
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	size_t threads = online > 0 ? (size_t)online : 1;
	size_t payload_size = DEFAULT_PAYLOAD_SIZE, n_items = DEFAULT_VERIFY_ITEMS;
	const char *network = DEFAULT_NETWORK;
	double seconds = 3.0, t0, t1, cpu0, cpu1, elapsed, rate;
	struct rumor_network net;
	struct verify_shared shared;
	struct verify_worker *workers;
	uint64_t total = 0, failures = 0;
	struct timespec pause;
	size_t i;
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 't':
			threads = (size_t)parse_uint("threads", optarg, 1, 1024);
			break;
		case 's':
			seconds = parse_seconds("seconds", optarg);
			break;
		case 'z':
			payload_size = (size_t)parse_uint("size", optarg, 0, RUMOR_TX_PAYLOAD_MAX);
			break;
		case 'n':
			network = optarg;
			break;
		case 'i':
			n_items = (size_t)parse_uint("items", optarg, 1, 1000000);
			break;
		default:
			usage_error("verify-rate: bad option");
		}
	}
	if (optind != argc)
		usage_error("verify-rate: unexpected argument '%s'", argv[optind]);
	network_or_die(&net, network);

	shared.txs = make_transactions(&net, n_items, payload_size);
	shared.n_txs = n_items;
	shared.net = &net;
	atomic_init(&shared.stop, false);
	if (pthread_barrier_init(&shared.start, NULL, (unsigned)threads + 1) != 0)
		fatal("pthread_barrier_init failed");
	workers = xcalloc(threads, sizeof(*workers));
	for (i = 0; i < threads; i++) {
		workers[i].shared = &shared;
		workers[i].first = (i * n_items) / threads;
		if (pthread_create(&workers[i].thread, NULL, verify_main, &workers[i]) != 0)
			fatal("pthread_create failed");
	}

	cpu0 = process_cpu_s();
	pthread_barrier_wait(&shared.start);
	t0 = monotonic_s();
	pause.tv_sec = (time_t)seconds;
	pause.tv_nsec = (long)((seconds - (double)pause.tv_sec) * 1e9);
	while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
		;
	atomic_store(&shared.stop, true);
	for (i = 0; i < threads; i++) {
		pthread_join(workers[i].thread, NULL);
		total += workers[i].done;
		failures += workers[i].failures;
	}
	t1 = monotonic_s();
	cpu1 = process_cpu_s();
	elapsed = t1 - t0;
	rate = (double)total / elapsed;

	fprintf(stderr,
		"verify-rate: %" PRIu64 " verifications in %.2f s on %zu threads: %.0f/s "
		"(%.0f/s per thread, CPU use %.2f cores)%s\n",
		total, elapsed, threads, rate, rate / (double)threads, (cpu1 - cpu0) / elapsed,
		failures ? ", SOME FAILED" : "");
	print_json_line(json_pack("{s:s, s:f, s:f, s:I, s:I, s:f, s:f, s:I, s:I}", "bench",
				  "verify-rate", "verify_per_s", rate, "verify_per_s_per_thread",
				  rate / (double)threads, "threads", (json_int_t)threads,
				  "verifications", (json_int_t)total, "seconds", elapsed,
				  "cpu_cores_used", (cpu1 - cpu0) / elapsed, "tx_size",
				  (json_int_t)shared.txs[0].size, "failures", (json_int_t)failures));

	pthread_barrier_destroy(&shared.start);
	free(workers);
	free_transactions((struct bench_tx *)shared.txs, n_items);
	return failures ? EXIT_FAILED : 0;
}

/* ---- load: HTTP client ------------------------------------------------ */

struct request {
	char *data; /* the whole HTTP request */
	size_t len;
	size_t first_tx; /* calls carry JSON-RPC ids first_tx .. first_tx+n_tx-1 */
	size_t n_tx;
};

struct load_shared {
	const struct bench_tx *txs;
	size_t n_txs;
	const struct request *requests;
	size_t n_requests;
	bool batch; /* requests hold JSON arrays */
	atomic_size_t next_request;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int timeout_s;
	pthread_barrier_t start;
	uint8_t *accepted;  /* per tx: 1 once its id came back */
	double *latency_s;  /* per request */
};

struct load_worker {
	struct load_shared *shared;
	int fd;
	char *rbuf;
	size_t rcap, rlen;
	uint64_t requests, accepted, failed_calls, transport_errors, reconnects;
	char first_error[ERROR_TEXT_MAX];
	pthread_t thread;
};

static void __attribute__((format(printf, 2, 3))) note_error(struct load_worker *w, const char *fmt,
							      ...)
{
	va_list ap;

	if (w->first_error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
	va_end(ap);
}

/* Returns a connected socket or -1 (errno set). */
static int connect_to(const struct load_shared *sh)
{
	struct timeval tv;
	int fd, one = 1;

	fd = socket(sh->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	tv.tv_sec = sh->timeout_s;
	tv.tv_usec = 0;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (const struct sockaddr *)&sh->addr, sh->addr_len) != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Case-insensitive: does the comma-separated header value contain token? */
static bool header_has_token(const char *value, size_t len, const char *token)
{
	size_t tlen = strlen(token), i = 0;

	while (i < len) {
		size_t start, end;

		while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
			i++;
		start = i;
		while (i < len && value[i] != ',')
			i++;
		end = i;
		while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
			end--;
		if (end - start == tlen && strncasecmp(value + start, token, tlen) == 0)
			return true;
	}
	return false;
}

struct response {
	int status;
	const char *body; /* points into the worker's buffer */
	size_t body_len;
	bool close_after;
};

/* Parses the status line and headers in head[0..len) (ending at the blank
 * line).  Returns NULL or a reason. */
static const char *parse_head(const char *head, size_t len, struct response *resp,
			      bool *have_length, uint64_t *content_length)
{
	const char *line = head, *end = head + len, *eol;
	bool http10;

	*have_length = false;
	*content_length = 0;
	eol = memmem(line, (size_t)(end - line), "\r\n", 2);
	if (eol == NULL || eol - line < 12)
		return "malformed status line";
	if (memcmp(line, "HTTP/1.1 ", 9) == 0)
		http10 = false;
	else if (memcmp(line, "HTTP/1.0 ", 9) == 0)
		http10 = true;
	else
		return "status line is not HTTP/1.x";
	if (line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' || line[11] < '0' ||
	    line[11] > '9' || (eol - line > 12 && line[12] != ' '))
		return "malformed status code";
	resp->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	resp->close_after = http10;

	for (line = eol + 2; line < end; line = eol + 2) {
		const char *colon, *value, *value_end;

		eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (eol == NULL)
			return "header line without CRLF";
		if (eol == line)
			break; /* the blank line */
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL || colon == line)
			return "malformed header line";
		value = colon + 1;
		while (value < eol && (*value == ' ' || *value == '\t'))
			value++;
		value_end = eol;
		while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
			value_end--;
#define NAME_IS(s) ((size_t)(colon - line) == strlen(s) && strncasecmp(line, s, strlen(s)) == 0)
		if (NAME_IS("Content-Length")) {
			uint64_t v = 0;
			const char *p;

			if (value == value_end)
				return "empty Content-Length";
			for (p = value; p < value_end; p++) {
				if (*p < '0' || *p > '9' || v > RESPONSE_BODY_MAX)
					return "malformed or too large Content-Length";
				v = v * 10 + (uint64_t)(*p - '0');
			}
			if (v > RESPONSE_BODY_MAX)
				return "Content-Length too large";
			if (*have_length && v != *content_length)
				return "conflicting Content-Length headers";
			*have_length = true;
			*content_length = v;
		} else if (NAME_IS("Transfer-Encoding")) {
			return "Transfer-Encoding in response (not expected from rumord)";
		} else if (NAME_IS("Connection")) {
			if (header_has_token(value, (size_t)(value_end - value), "close"))
				resp->close_after = true;
			else if (header_has_token(value, (size_t)(value_end - value), "keep-alive"))
				resp->close_after = false;
		}
#undef NAME_IS
	}
	return NULL;
}

/* Reads exactly one response.  Returns NULL or a reason (the connection is
 * then unusable). */
static const char *read_response(struct load_worker *w, struct response *resp)
{
	size_t head_len = 0, scanned = 0;
	uint64_t content_length = 0;
	bool have_length = false;

	w->rlen = 0;
	for (;;) {
		ssize_t n;

		if (head_len == 0 && w->rlen >= 4) {
			size_t from = scanned > 3 ? scanned - 3 : 0;
			const char *p = memmem(w->rbuf + from, w->rlen - from, "\r\n\r\n", 4);

			scanned = w->rlen;
			if (p != NULL) {
				const char *reason;

				head_len = (size_t)(p - w->rbuf) + 4;
				reason = parse_head(w->rbuf, head_len, resp, &have_length,
						    &content_length);
				if (reason != NULL)
					return reason;
				if (!have_length) {
					/* 1xx, 204 and 304 have no body; anything
					 * else would be framed by the close. */
					if (resp->status == 204 || resp->status == 304)
						content_length = 0;
					else
						return "response without Content-Length";
				}
			} else if (w->rlen > RESPONSE_HEADER_MAX) {
				return "response header too large";
			}
		}
		if (head_len != 0 && w->rlen >= head_len + content_length)
			break;
		if (w->rcap - w->rlen < 4096) {
			size_t cap = w->rcap * 2;

			if (head_len != 0 && cap < head_len + content_length + 1)
				cap = head_len + content_length + 1;
			w->rbuf = realloc(w->rbuf, cap);
			if (w->rbuf == NULL)
				fatal("out of memory (%zu bytes)", cap);
			w->rcap = cap;
		}
		n = recv(w->fd, w->rbuf + w->rlen, w->rcap - w->rlen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return "timed out waiting for the response";
		if (n < 0)
			return strerror(errno);
		if (n == 0)
			return w->rlen == 0 ? "server closed the connection"
					    : "server closed the connection mid-response";
		w->rlen += (size_t)n;
	}
	if (w->rlen != head_len + content_length)
		return "bytes after the response (none were asked for)";
	resp->body = w->rbuf + head_len;
	resp->body_len = (size_t)content_length;
	return NULL;
}

/* Checks one JSON-RPC response object against the calls of req.  Marks the
 * tx accepted when its result is its id; seen[] guards against an id
 * answered twice.  Returns true when accepted. */
static bool check_call(struct load_worker *w, const struct request *req, json_t *reply,
		       uint8_t *seen)
{
	const struct load_shared *sh = w->shared;
	json_t *id = json_object_get(reply, "id"), *result, *error;
	const char *version;
	json_int_t index;

	if (!json_is_object(reply)) {
		note_error(w, "a reply is not a JSON object");
		return false;
	}
	version = json_string_value(json_object_get(reply, "jsonrpc"));
	if (version == NULL || strcmp(version, "2.0") != 0) {
		note_error(w, "a reply lacks \"jsonrpc\": \"2.0\"");
		return false;
	}
	error = json_object_get(reply, "error");
	if (error != NULL) {
		const char *message = json_string_value(json_object_get(error, "message"));

		note_error(w, "RPC error %" JSON_INTEGER_FORMAT ": %s",
			   json_integer_value(json_object_get(error, "code")),
			   message ? message : "(no message)");
		return false;
	}
	if (!json_is_integer(id)) {
		note_error(w, "a reply has no integer id");
		return false;
	}
	index = json_integer_value(id);
	if (index < (json_int_t)req->first_tx || index >= (json_int_t)(req->first_tx + req->n_tx)) {
		note_error(w, "a reply has id %" JSON_INTEGER_FORMAT " that was not asked", index);
		return false;
	}
	if (seen[index - (json_int_t)req->first_tx]) {
		note_error(w, "two replies for id %" JSON_INTEGER_FORMAT, index);
		return false;
	}
	seen[index - (json_int_t)req->first_tx] = 1;
	result = json_object_get(reply, "result");
	if (!json_is_string(result) ||
	    strcmp(json_string_value(result), sh->txs[index].id_hex) != 0) {
		note_error(w, "the result for id %" JSON_INTEGER_FORMAT " is not the item's id",
			   index);
		return false;
	}
	sh->accepted[index] = 1;
	return true;
}

/* Checks a 200 body; returns how many calls of req were accepted. */
static size_t check_body(struct load_worker *w, const struct request *req, const char *body,
			 size_t len, uint8_t *seen)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr);
	size_t accepted = 0, i;

	if (root == NULL) {
		note_error(w, "response body is not JSON: %s", jerr.text);
		return 0;
	}
	memset(seen, 0, req->n_tx);
	if (!w->shared->batch) {
		accepted = check_call(w, req, root, seen) ? 1 : 0;
	} else if (!json_is_array(root)) {
		note_error(w, "a batch got a reply that is not an array");
	} else {
		if (json_array_size(root) != req->n_tx)
			note_error(w, "a batch of %zu calls got %zu replies", req->n_tx,
				   json_array_size(root));
		for (i = 0; i < json_array_size(root); i++)
			if (check_call(w, req, json_array_get(root, i), seen))
				accepted++;
	}
	json_decref(root);
	return accepted;
}

static void *load_main(void *arg)
{
	struct load_worker *w = arg;
	struct load_shared *sh = w->shared;
	size_t batch_cap = 1, i;
	uint8_t *seen;

	for (i = 0; i < sh->n_requests; i++)
		if (sh->requests[i].n_tx > batch_cap)
			batch_cap = sh->requests[i].n_tx;
	seen = xmalloc(batch_cap);

	pthread_barrier_wait(&sh->start);
	for (;;) {
		size_t index = atomic_fetch_add(&sh->next_request, 1);
		const struct request *req;
		struct response resp;
		const char *reason;
		double t0;
		size_t accepted = 0;

		if (index >= sh->n_requests)
			break;
		req = &sh->requests[index];
		t0 = monotonic_s();
		if (w->fd < 0) {
			w->fd = connect_to(sh);
			if (w->fd < 0) {
				note_error(w, "cannot reconnect: %s", strerror(errno));
				w->transport_errors++;
				w->failed_calls += req->n_tx;
				continue;
			}
			w->reconnects++;
		}
		if (send_all(w->fd, req->data, req->len) != 0) {
			reason = strerror(errno);
		} else {
			memset(&resp, 0, sizeof(resp));
			reason = read_response(w, &resp);
		}
		w->requests++;
		if (reason != NULL) {
			note_error(w, "request %zu: %s", index, reason);
			w->transport_errors++;
			w->failed_calls += req->n_tx;
			close(w->fd);
			w->fd = -1;
			continue;
		}
		if (resp.status != 200) {
			size_t shown = resp.body_len < 100 ? resp.body_len : 100;

			while (shown > 0 && (resp.body[shown - 1] == '\n' || resp.body[shown - 1] == '\r'))
				shown--;
			note_error(w, "HTTP status %d: %.*s", resp.status, (int)shown, resp.body);
		} else
			accepted = check_body(w, req, resp.body, resp.body_len, seen);
		sh->latency_s[index] = monotonic_s() - t0;
		w->accepted += accepted;
		w->failed_calls += req->n_tx - accepted;
		if (resp.close_after) {
			close(w->fd);
			w->fd = -1;
		}
	}
	free(seen);
	return NULL;
}

/* ---- load: set-up and report ------------------------------------------ */

static void resolve_or_die(const char *connect_arg, struct load_shared *sh)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon = strrchr(connect_arg, ':');
	size_t host_len;
	int rc;

	if (colon == NULL || colon == connect_arg || colon[1] == '\0')
		usage_error("--connect: expected HOST:PORT, got '%s'", connect_arg);
	host_len = (size_t)(colon - connect_arg);
	if (connect_arg[0] == '[' && colon[-1] == ']') {
		connect_arg++;
		host_len -= 2;
	}
	if (host_len == 0 || host_len >= sizeof(host))
		usage_error("--connect: bad host in '%s'", connect_arg);
	memcpy(host, connect_arg, host_len);
	host[host_len] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0 || res == NULL)
		fatal("cannot resolve '%s': %s", connect_arg, gai_strerror(rc));
	if (res->ai_addrlen > sizeof(sh->addr))
		fatal("address too long");
	memcpy(&sh->addr, res->ai_addr, res->ai_addrlen);
	sh->addr_len = (socklen_t)res->ai_addrlen;
	freeaddrinfo(res);
}

/* USER:PASS from --auth, or the content of a cookie file. */
static char *credentials_or_die(const char *auth, const char *cookie_path)
{
	char buf[1024];
	size_t len;
	FILE *f;

	if (auth != NULL)
		return strdup(auth);
	if (cookie_path == NULL)
		usage_error("load: --cookie=FILE or --auth=USER:PASS is required");
	f = fopen(cookie_path, "r");
	if (f == NULL)
		fatal("cannot open cookie file %s: %s", cookie_path, strerror(errno));
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (strchr(buf, ':') == NULL)
		fatal("cookie file %s does not hold USER:PASSWORD", cookie_path);
	return strdup(buf);
}

static struct request *build_requests(const struct bench_tx *txs, size_t count, size_t batch,
				      const char *host, const char *credentials, size_t *n_out)
{
	size_t n = (count + batch - 1) / batch, r, i, b64_len;
	struct request *reqs = xcalloc(n, sizeof(*reqs));
	char *b64, *hex = NULL;
	size_t hex_cap = 0;
	struct strbuf body = {0}, head = {0};

	b64_len = sodium_base64_ENCODED_LEN(strlen(credentials), sodium_base64_VARIANT_ORIGINAL);
	b64 = xmalloc(b64_len);
	sodium_bin2base64(b64, b64_len, (const unsigned char *)credentials, strlen(credentials),
			  sodium_base64_VARIANT_ORIGINAL);
	for (r = 0; r < n; r++) {
		struct request *req = &reqs[r];

		req->first_tx = r * batch;
		req->n_tx = count - req->first_tx < batch ? count - req->first_tx : batch;
		body.len = 0;
		if (batch > 1)
			strbuf_append(&body, "[", 1);
		for (i = req->first_tx; i < req->first_tx + req->n_tx; i++) {
			if (hex_cap < 2 * txs[i].size + 1) {
				free(hex);
				hex_cap = 2 * txs[i].size + 1;
				hex = xmalloc(hex_cap);
			}
			rumor_hex_encode(txs[i].encoding, txs[i].size, hex);
			strbuf_printf(&body,
				      "%s{\"jsonrpc\":\"2.0\",\"id\":%zu,"
				      "\"method\":\"sendrawtransaction\",\"params\":[\"%s\"]}",
				      i > req->first_tx ? "," : "", i, hex);
		}
		if (batch > 1)
			strbuf_append(&body, "]", 1);
		head.len = 0;
		strbuf_printf(&head,
			      "POST / HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			      host, b64, body.len);
		req->len = head.len + body.len;
		req->data = xmalloc(req->len);
		memcpy(req->data, head.data, head.len);
		memcpy(req->data + head.len, body.data, body.len);
	}
	sodium_memzero(b64, b64_len);
	free(b64);
	free(hex);
	free(body.data);
	free(head.data);
	*n_out = n;
	return reqs;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0.0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return sorted[i < n ? i : n - 1];
}

static int cmd_load(int argc, char **argv)
{
	static const struct option options[] = {
		{"connect", required_argument, NULL, 'c'},
		{"cookie", required_argument, NULL, 'k'},
		{"auth", required_argument, NULL, 'a'},
		{"count", required_argument, NULL, 'm'},
		{"size", required_argument, NULL, 'z'},
		{"connections", required_argument, NULL, 'j'},
		{"batch", required_argument, NULL, 'b'},
		{"network", required_argument, NULL, 'n'},
		{"ids-out", required_argument, NULL, 'o'},
		{"timeout", required_argument, NULL, 't'},
		{"label", required_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	const char *connect_arg = NULL, *cookie = NULL, *auth = NULL, *ids_out = NULL;
	const char *network = DEFAULT_NETWORK, *label = NULL;
	size_t count = DEFAULT_COUNT, payload_size = DEFAULT_PAYLOAD_SIZE;
	size_t connections = DEFAULT_CONNECTIONS, batch = 1, n_requests, i;
	struct rumor_network net;
	struct load_shared shared;
	struct load_worker *workers;
	struct request *requests;
	struct bench_tx *txs;
	char *credentials, label_buf[32];
	double t0, t1, cpu0, cpu1, elapsed, sign_t0, sign_s, *sorted;
	uint64_t accepted = 0, failed = 0, transport = 0, reconnects = 0, sent = 0;
	const char *first_error = "";
	int opt;

	memset(&shared, 0, sizeof(shared));
	shared.timeout_s = DEFAULT_TIMEOUT_S;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			connect_arg = optarg;
			break;
		case 'k':
			cookie = optarg;
			break;
		case 'a':
			auth = optarg;
			break;
		case 'm':
			count = (size_t)parse_uint("count", optarg, 1, 10000000);
			break;
		case 'z':
			payload_size = (size_t)parse_uint("size", optarg, 0, RUMOR_TX_PAYLOAD_MAX);
			break;
		case 'j':
			connections = (size_t)parse_uint("connections", optarg, 1, CONNECTIONS_MAX);
			break;
		case 'b':
			batch = (size_t)parse_uint("batch", optarg, 1, BATCH_MAX);
			break;
		case 'n':
			network = optarg;
			break;
		case 'o':
			ids_out = optarg;
			break;
		case 't':
			shared.timeout_s = (int)parse_uint("timeout", optarg, 1, 3600);
			break;
		case 'l':
			label = optarg;
			break;
		default:
			usage_error("load: bad option");
		}
	}
	if (optind != argc)
		usage_error("load: unexpected argument '%s'", argv[optind]);
	if (connect_arg == NULL)
		usage_error("load: --connect=HOST:PORT is required");
	if (label == NULL) {
		if (batch == 1)
			label = "single";
		else {
			snprintf(label_buf, sizeof(label_buf), "batch%zu", batch);
			label = label_buf;
		}
	}
	network_or_die(&net, network);
	resolve_or_die(connect_arg, &shared);
	credentials = credentials_or_die(auth, cookie);
	if (credentials == NULL)
		fatal("out of memory");

	/* Everything before t0 is preparation the node never sees. */
	sign_t0 = monotonic_s();
	txs = make_transactions(&net, count, payload_size);
	sign_s = monotonic_s() - sign_t0;
	requests = build_requests(txs, count, batch, connect_arg, credentials, &n_requests);
	sodium_memzero(credentials, strlen(credentials));
	free(credentials);

	shared.txs = txs;
	shared.n_txs = count;
	shared.requests = requests;
	shared.n_requests = n_requests;
	shared.batch = batch > 1;
	atomic_init(&shared.next_request, 0);
	shared.accepted = xcalloc(count, 1);
	shared.latency_s = xcalloc(n_requests, sizeof(double));
	if (connections > n_requests)
		connections = n_requests;
	if (pthread_barrier_init(&shared.start, NULL, (unsigned)connections + 1) != 0)
		fatal("pthread_barrier_init failed");
	workers = xcalloc(connections, sizeof(*workers));
	for (i = 0; i < connections; i++) {
		workers[i].shared = &shared;
		workers[i].rcap = 16384;
		workers[i].rbuf = xmalloc(workers[i].rcap);
		workers[i].fd = connect_to(&shared);
		if (workers[i].fd < 0)
			fatal("cannot connect to %s: %s", connect_arg, strerror(errno));
	}
	for (i = 0; i < connections; i++)
		if (pthread_create(&workers[i].thread, NULL, load_main, &workers[i]) != 0)
			fatal("pthread_create failed");

	cpu0 = process_cpu_s();
	t0 = monotonic_s();
	pthread_barrier_wait(&shared.start);
	for (i = 0; i < connections; i++) {
		struct load_worker *w = &workers[i];

		pthread_join(w->thread, NULL);
		accepted += w->accepted;
		failed += w->failed_calls;
		transport += w->transport_errors;
		reconnects += w->reconnects;
		sent += w->requests;
		if (first_error[0] == '\0' && w->first_error[0] != '\0')
			first_error = w->first_error;
	}
	t1 = monotonic_s();
	cpu1 = process_cpu_s();
	elapsed = t1 - t0;

	sorted = xmalloc(n_requests * sizeof(double));
	memcpy(sorted, shared.latency_s, n_requests * sizeof(double));
	qsort(sorted, n_requests, sizeof(double), compare_double);

	if (ids_out != NULL) {
		FILE *f = fopen(ids_out, "w");

		if (f == NULL)
			fatal("cannot write %s: %s", ids_out, strerror(errno));
		for (i = 0; i < count; i++)
			if (shared.accepted[i])
				fprintf(f, "%s\n", txs[i].id_hex);
		if (fclose(f) != 0)
			fatal("cannot write %s: %s", ids_out, strerror(errno));
	}

	fprintf(stderr,
		"load %s: %" PRIu64 "/%zu accepted in %.2f s over %zu connections, "
		"%zu calls per request: %.0f items/s, %.0f requests/s; latency p50 %.2f ms, "
		"p99 %.2f ms, max %.2f ms; load generator CPU %.2f cores; signing took %.2f s "
		"(untimed)\n",
		label, accepted, count, elapsed, connections, batch, (double)accepted / elapsed,
		(double)sent / elapsed, 1e3 * percentile(sorted, n_requests, 0.5),
		1e3 * percentile(sorted, n_requests, 0.99),
		1e3 * percentile(sorted, n_requests, 1.0), (cpu1 - cpu0) / elapsed, sign_s);
	if (failed > 0)
		fprintf(stderr, "load %s: %" PRIu64 " calls failed (%" PRIu64
				" transport errors, %" PRIu64 " reconnects); first: %s\n",
			label, failed, transport, reconnects, first_error);
	print_json_line(json_pack(
		"{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:{s:f, s:f, s:f, "
		"s:f}, s:f, s:s}",
		"bench", "load", "label", label, "batch", (json_int_t)batch, "connections",
		(json_int_t)connections, "count", (json_int_t)count, "tx_size",
		(json_int_t)txs[0].size, "seconds", elapsed, "items_per_s",
		(double)accepted / elapsed, "requests_per_s", (double)sent / elapsed, "accepted",
		(json_int_t)accepted, "errors", (json_int_t)failed, "transport_errors",
		(json_int_t)transport, "reconnects", (json_int_t)reconnects, "latency_ms", "p50",
		1e3 * percentile(sorted, n_requests, 0.5), "p90",
		1e3 * percentile(sorted, n_requests, 0.9), "p99",
		1e3 * percentile(sorted, n_requests, 0.99), "max",
		1e3 * percentile(sorted, n_requests, 1.0), "client_cpu_cores", (cpu1 - cpu0) / elapsed,
		"first_error", first_error));

	for (i = 0; i < connections; i++) {
		if (workers[i].fd >= 0)
			close(workers[i].fd);
		free(workers[i].rbuf);
	}
	for (i = 0; i < n_requests; i++)
		free(requests[i].data);
	free(requests);
	free(workers);
	free(sorted);
	free(shared.latency_s);
	free(shared.accepted);
	pthread_barrier_destroy(&shared.start);
	free_transactions(txs, count);
	return failed == 0 && accepted == count ? 0 : EXIT_FAILED;
}

/* ---- bigblock ---------------------------------------------------------- */

static int cmd_bigblock(int argc, char **argv)
{
	const char *network = DEFAULT_NETWORK;
	uint64_t tx_count = RUMOR_BLOCK_TX_MAX, height = 1;
	static const struct option options[] = {
		{"network", required_argument, NULL, 'n'},
		{"tx-count", required_argument, NULL, 'c'},
		{"height", required_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'n':
			network = optarg;
			break;
		case 'c':
			tx_count = parse_uint("--tx-count", optarg, 0, RUMOR_BLOCK_TX_MAX);
			break;
		case 'h':
			height = parse_uint("--height", optarg, 1, UINT64_MAX);
			break;
		default:
			usage_error("bigblock: unknown option");
		}
	}
	struct rumor_network net;
	network_or_die(&net, network);
	uint8_t pubkey[RUMOR_PUBKEY_SIZE], secret[RUMOR_SECRET_SIZE], prev[RUMOR_ID_SIZE];
	rumor_sign_keypair_random(pubkey, secret);
	rumor_random(prev, sizeof(prev));
	uint8_t *ids = xmalloc((size_t)tx_count * RUMOR_ID_SIZE);
	rumor_random(ids, (size_t)tx_count * RUMOR_ID_SIZE); /* distinct with overwhelming odds */
	size_t len;
	uint8_t *block = rumor_block_create(&net, secret, height, prev, (uint64_t)time(NULL), ids,
					    (uint32_t)tx_count, &len);
	sodium_memzero(secret, sizeof(secret));
	free(ids);
	if (!block)
		fatal("rumor_block_create: %s", strerror(errno));
	char *hex = xmalloc(2 * len + 2);
	rumor_hex_encode(block, len, hex);
	hex[2 * len] = '\n';
	hex[2 * len + 1] = '\0';
	fwrite(hex, 1, 2 * len + 1, stdout);
	free(hex);
	free(block);
	return fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}

/* ---- main -------------------------------------------------------------- */

static void print_help(void)
{
	fputs("usage: bench-ingest verify-rate [--threads=N] [--seconds=S] [--size=BYTES]\n"
	      "                                [--network=NAME] [--items=N]\n"
	      "       bench-ingest load --connect=HOST:PORT (--cookie=FILE | --auth=USER:PASS)\n"
	      "                         [--count=N] [--size=BYTES] [--connections=K] [--batch=B]\n"
	      "                         [--network=NAME] [--ids-out=FILE] [--timeout=S]\n"
	      "                         [--label=NAME]\n"
	      "       bench-ingest bigblock [--network=NAME] [--tx-count=N] [--height=H]\n"
	      "Load generator and Ed25519 baseline for contrib/bench/rpc-ingest.\n"
	      "Prints one JSON object on stdout and a summary on stderr.\n",
	      stdout);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage_error("missing command (verify-rate or load)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_help();
		return 0;
	}
	if (rumor_crypto_init() != 0)
		fatal("cannot initialise libsodium");
	if (strcmp(argv[1], "verify-rate") == 0)
		return cmd_verify_rate(argc - 1, argv + 1);
	if (strcmp(argv[1], "load") == 0)
		return cmd_load(argc - 1, argv + 1);
	if (strcmp(argv[1], "bigblock") == 0)
		return cmd_bigblock(argc - 1, argv + 1);
	usage_error("unknown command '%s'", argv[1]);
}
