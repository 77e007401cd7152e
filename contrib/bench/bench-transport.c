/*
 * contrib/bench/bench-transport.c: the measuring halves of the transport
 * benchmark.  contrib/bench/transport drives them; see contrib/bench/README.md.
 *
 *   bench-transport raw --size=BYTES [--seconds=S]
 *     The baseline: one thread encrypts a message of BYTES with libsodium's
 *     crypto_aead_chacha20poly1305_ietf_encrypt() and decrypts it again with
 *     crypto_aead_chacha20poly1305_ietf_decrypt() (what the two ends of a
 *     connection do between them, once each), a fresh nonce per message, for
 *     S seconds.  MB/s = message bytes / elapsed.
 *
 *   bench-transport stream --size=BYTES [--seconds=S] [--network=NAME]
 *     Two processes (fork), each with its own Ed25519 identity and X25519
 *     Noise static key, connected over TCP on 127.0.0.1.  Each drives a real
 *     rumor_session (net/session.h: Noise XX handshake, identity proof,
 *     hello, then framing) over a non-blocking socket with poll().  The
 *     dialer sends `block` messages whose item blob is BYTES long for S
 *     seconds, then closes the session (a disconnect message); the listener
 *     counts the blob bytes of every block it gets as EV_MESSAGE.
 *     MB/s = blob bytes received / (time of the last block received - time
 *     the dialer started sending), both on CLOCK_MONOTONIC, which is one
 *     clock for every process of the machine.
 *
 *   bench-transport handshake-tcp [--seconds=S] [--network=NAME]
 *     A listener process and a dialer process.  For S seconds the dialer
 *     connects, runs its session until READY (handshake + identity proof +
 *     hello both ways), waits until the listener, itself READY, closes, and
 *     connects again: one connection at a time, fresh ephemeral keys from
 *     rumor_random() each time on both sides.
 *
 *   bench-transport handshake-inproc [--seconds=S] [--network=NAME]
 *     The same session work with no sockets: two sessions in one thread,
 *     the output of each fed to the other in memory until both are READY.
 *     What remains is the CPU of the handshake itself (X25519, SHA-256/HKDF,
 *     ChaCha20-Poly1305, the Ed25519 identity proofs, hello).
 *
 * Each prints one JSON object on stdout (the result) and a one-line summary
 * on stderr.  Exit status: 0 when the measurement ran and every check passed
 * (decrypts, session events, byte counts), 1 when a check failed, 2 on a
 * usage or set-up error.
 *
 * Invariants: all timing is CLOCK_MONOTONIC; message buffers, keys and
 * identities are made before the clock starts; every blocking wait has a
 * deadline (WAIT_LIMIT_S) so a broken session fails the run instead of
 * hanging it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "contrib/bench/bench-util.h"
#include "crypto/item.h"
#include "crypto/sign.h"
#include "net/frame.h"
#include "net/message.h"
#include "net/session.h"

#define DEFAULT_NETWORK "bench"
#define DEFAULT_SECONDS 3.0
#define WAIT_LIMIT_S 30.0          /* longest any single wait may take */
#define READ_CHUNK (256u * 1024u)  /* bytes per recv() */
#define QUEUE_LOW_WATER (256u * 1024u) /* sender queues messages below this */
#define RAW_SIZE_MAX (64u * 1024u * 1024u)
#define REASON_MAX 200 /* a session's or the system's reason */
#define ERROR_MAX 512  /* a composed error message */


/* ---- small helpers ---------------------------------------------------- */

const char *bench_program = "bench-transport";

/* The session's clock: microseconds on the same monotonic clock. */
static uint64_t session_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
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

/* A byte count, optionally with a K (KiB) or M (MiB) suffix. */
static size_t parse_size(const char *option, const char *text, size_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (text[0] < '0' || text[0] > '9')
		usage_error("--%s: not a size: '%s'", option, text);
	v = strtoull(text, &end, 10);
	if (errno == 0 && (*end == 'k' || *end == 'K') && v <= max / 1024u) {
		v *= 1024u;
		end++;
	} else if (errno == 0 && (*end == 'm' || *end == 'M') && v <= max / (1024u * 1024u)) {
		v *= 1024u * 1024u;
		end++;
	}
	if (errno != 0 || *end != '\0' || v < 1 || v > max)
		usage_error("--%s: '%s' is not a size in [1, %zu] (a number, or with K or M)",
			    option, text, max);
	return (size_t)v;
}

static void network_or_die(struct rumor_network *net, const char *name)
{
	if (rumor_network_init(net, name) != 0)
		usage_error("--network: invalid network name '%s'", name);
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

static void copy_reason(char out[REASON_MAX], const char *text)
{
	snprintf(out, REASON_MAX, "%s", text ? text : "(no reason)");
}

/* Common options of every command. */
struct options {
	size_t size;
	double seconds;
	const char *network;
};

static void parse_options(int argc, char **argv, struct options *o, int want_size,
			  size_t size_max)
{
	static const struct option options[] = {
		{"size", required_argument, NULL, 'z'},
		{"seconds", required_argument, NULL, 's'},
		{"network", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	o->size = 0;
	o->seconds = DEFAULT_SECONDS;
	o->network = DEFAULT_NETWORK;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'z':
			if (!want_size)
				usage_error("%s takes no --size", argv[0]);
			o->size = parse_size("size", optarg, size_max);
			break;
		case 's':
			o->seconds = parse_seconds("seconds", optarg);
			break;
		case 'n':
			o->network = optarg;
			break;
		default:
			usage_error("%s: unknown option", argv[0]);
		}
	}
	if (optind != argc)
		usage_error("%s: unexpected argument '%s'", argv[0], argv[optind]);
	if (want_size && o->size == 0)
		usage_error("%s needs --size=BYTES", argv[0]);
}

/* ---- raw: the ChaCha20-Poly1305 baseline ------------------------------ */

static int cmd_raw(int argc, char **argv)
{
	struct options o;
	uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
	uint8_t *msg, *ct, *pt;
	uint64_t counter = 0, failures = 0;
	double t0, t1, cpu0, cpu1;
	json_t *result;

	parse_options(argc, argv, &o, 1, RAW_SIZE_MAX);
	msg = xmalloc(o.size);
	ct = xmalloc(o.size + crypto_aead_chacha20poly1305_ietf_ABYTES);
	pt = xmalloc(o.size);
	rumor_random(msg, o.size);
	rumor_random(key, sizeof(key));
	memset(nonce, 0, sizeof(nonce));

	cpu0 = process_cpu_s();
	t0 = monotonic_s();
	do {
		unsigned long long ct_len, pt_len;
		unsigned int i;

		/* The transport's nonce: 32 zero bits || 64-bit LE counter. */
		for (i = 0; i < 8; i++)
			nonce[4 + i] = (uint8_t)(counter >> (8 * i));
		counter++;
		crypto_aead_chacha20poly1305_ietf_encrypt(ct, &ct_len, msg, o.size, NULL, 0, NULL,
							  nonce, key);
		if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &pt_len, NULL, ct, ct_len, NULL, 0,
							      nonce, key) != 0 ||
		    pt_len != o.size)
			failures++;
		t1 = monotonic_s();
	} while (t1 - t0 < o.seconds);
	cpu1 = process_cpu_s();
	if (memcmp(pt, msg, o.size) != 0)
		failures++;

	{
		double elapsed = t1 - t0;
		double mbps = (double)counter * (double)o.size / elapsed / 1e6;

		fprintf(stderr,
			"raw chacha20-poly1305 %zu B: %.1f MB/s encrypt+decrypt, one thread "
			"(%" PRIu64 " messages, %.2f s, %.2f cores)\n",
			o.size, mbps, counter, elapsed, (cpu1 - cpu0) / elapsed);
		result = json_pack("{s:s, s:I, s:f, s:I, s:f, s:f, s:f, s:I}", "mode", "raw",
				   "size", (json_int_t)o.size, "MBps", mbps, "messages",
				   (json_int_t)counter, "seconds", elapsed, "us_per_message",
				   elapsed * 1e6 / (double)counter, "cpu_cores_used",
				   (cpu1 - cpu0) / elapsed, "failures", (json_int_t)failures);
	}
	print_json_line(result);
	sodium_memzero(key, sizeof(key));
	free(msg);
	free(ct);
	free(pt);
	return failures ? EXIT_FAILED : 0;
}

/* ---- a node's identity and a session over a socket -------------------- */

struct node {
	struct rumor_network net;
	uint8_t id[32];
	uint8_t identity_secret[RUMOR_SECRET_SIZE];
	uint8_t noise_static[32];
	uint64_t hello_nonce;
};

/* A fresh identity; call in the process that will use it. */
static void node_init(struct node *n, const char *network)
{
	network_or_die(&n->net, network);
	rumor_sign_keypair_random(n->id, n->identity_secret);
	rumor_random(n->noise_static, sizeof(n->noise_static));
	rumor_random(&n->hello_nonce, sizeof(n->hello_nonce));
}

static void node_free(struct node *n)
{
	sodium_memzero(n->identity_secret, sizeof(n->identity_secret));
	sodium_memzero(n->noise_static, sizeof(n->noise_static));
}

/* A new session with a fresh ephemeral key. */
static struct rumor_session *node_session(const struct node *n, int initiator)
{
	struct rumor_session_config cfg;
	struct rumor_session *s = NULL;
	uint64_t now = session_now_us();
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.initiator = initiator;
	cfg.network = &n->net;
	cfg.identity_secret = n->identity_secret;
	memcpy(cfg.noise_static_priv, n->noise_static, sizeof(cfg.noise_static_priv));
	rumor_random(cfg.ephemeral_priv, sizeof(cfg.ephemeral_priv));
	cfg.hello_nonce = n->hello_nonce;
	cfg.wall_clock_offset_s = (int64_t)time(NULL) - (int64_t)(now / 1000000u);
	rumor_session_limits_default(&cfg.limits);
	rc = rumor_session_new(&s, &cfg, now);
	sodium_memzero(cfg.ephemeral_priv, sizeof(cfg.ephemeral_priv));
	sodium_memzero(cfg.noise_static_priv, sizeof(cfg.noise_static_priv));
	if (rc != 0)
		fatal("rumor_session_new: %s", strerror(-rc));
	return s;
}

/* One end of a connection: a socket and the session that speaks over it. */
struct peer {
	int fd;
	struct rumor_session *s;
	uint8_t *inbuf;
	int eof;              /* the other side closed (or reset) the connection */
	int ready, closed;    /* session events seen */
	int remote_initiated; /* CLOSED came from the peer's disconnect */
	char reason[REASON_MAX];
	char error[REASON_MAX]; /* a socket error, or "" */
	uint64_t blocks, blob_bytes, other_messages;
	double t_last_block;
};

static void peer_init(struct peer *p, int fd, struct rumor_session *s, uint8_t *inbuf)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->s = s;
	p->inbuf = inbuf;
}

static void peer_event(struct peer *p, const struct rumor_session_event *ev)
{
	switch (ev->type) {
	case RUMOR_SESSION_EV_NONE:
		break;
	case RUMOR_SESSION_EV_READY:
		p->ready = 1;
		break;
	case RUMOR_SESSION_EV_MESSAGE:
		if (ev->msg->type == RUMOR_MSG_BLOCK) {
			p->blocks++;
			p->blob_bytes += ev->msg->u.block.item.len;
			p->t_last_block = monotonic_s();
		} else {
			p->other_messages++;
		}
		break;
	case RUMOR_SESSION_EV_CLOSED:
		p->closed = 1;
		p->remote_initiated = ev->remote_initiated;
		copy_reason(p->reason, ev->reason);
		break;
	}
}

/* Feeds bytes to the session, collecting every event. */
static void session_feed(struct peer *p, const uint8_t *in, size_t len)
{
	size_t off = 0;

	for (;;) {
		struct rumor_session_event ev;
		size_t used = 0;

		memset(&ev, 0, sizeof(ev));
		rumor_session_recv(p->s, in + off, len - off, session_now_us(), &used, &ev);
		if (used > len - off)
			fatal("rumor_session_recv consumed %zu of %zu bytes", used, len - off);
		off += used;
		peer_event(p, &ev);
		if (ev.type == RUMOR_SESSION_EV_NONE) {
			if (off == len)
				return;
			if (used == 0)
				fatal("rumor_session_recv made no progress");
		}
	}
}

static void session_timers(struct peer *p)
{
	uint64_t now = session_now_us();

	if (rumor_session_expiry(p->s) <= now) {
		struct rumor_session_event ev;

		memset(&ev, 0, sizeof(ev));
		rumor_session_handle_expiry(p->s, now, &ev);
		peer_event(p, &ev);
	}
}

static size_t queued(struct rumor_session *s)
{
	const uint8_t *data;

	return rumor_session_output(s, &data);
}

/* Writes queued output until the socket would block.  Returns 0 or -1
 * (p->error set). */
static int peer_flush(struct peer *p)
{
	const uint8_t *data;
	size_t n;

	while ((n = rumor_session_output(p->s, &data)) > 0) {
		ssize_t w = send(p->fd, data, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			copy_reason(p->error, strerror(errno));
			return -1;
		}
		rumor_session_output_consumed(p->s, (size_t)w);
	}
	return 0;
}

/* Reads what the socket has (one recv) and feeds it.  Returns 0 or -1
 * (p->error set).  A reset after the other side was done counts as EOF. */
static int peer_read(struct peer *p)
{
	ssize_t r = recv(p->fd, p->inbuf, READ_CHUNK, 0);

	if (r == 0) {
		p->eof = 1;
		return 0;
	}
	if (r < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == ECONNRESET) {
			p->eof = 1;
			return 0;
		}
		copy_reason(p->error, strerror(errno));
		return -1;
	}
	session_feed(p, p->inbuf, (size_t)r);
	return 0;
}

/* One turn of the loop: flush, wait up to timeout_ms (or the session's next
 * deadline) for the socket, read, write, run timers.  Returns 0 or -1. */
static int peer_turn(struct peer *p, int timeout_ms)
{
	struct pollfd pfd;
	uint64_t expiry, now;

	if (peer_flush(p) < 0)
		return -1;
	pfd.fd = p->fd;
	pfd.events = p->eof ? 0 : POLLIN;
	pfd.revents = 0;
	if (queued(p->s) > 0)
		pfd.events |= POLLOUT;
	expiry = rumor_session_expiry(p->s);
	now = session_now_us();
	if (expiry != UINT64_MAX) {
		uint64_t wait_ms = expiry > now ? (expiry - now) / 1000u + 1u : 0u;

		if (wait_ms < (uint64_t)timeout_ms)
			timeout_ms = (int)wait_ms;
	}
	if (pfd.events == 0) {
		session_timers(p);
		return 0;
	}
	if (poll(&pfd, 1, timeout_ms) < 0) {
		if (errno == EINTR)
			return 0;
		copy_reason(p->error, strerror(errno));
		return -1;
	}
	if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && !p->eof && peer_read(p) < 0)
		return -1;
	if (peer_flush(p) < 0)
		return -1;
	session_timers(p);
	return 0;
}

static void set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		fatal("fcntl O_NONBLOCK: %s", strerror(errno));
}

static void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		fatal("setsockopt TCP_NODELAY: %s", strerror(errno));
}

/* A listening socket on 127.0.0.1 with a port the kernel picks. */
static int listen_loopback(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr->sin_port = 0;
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0)
		fatal("listen on 127.0.0.1: %s", strerror(errno));
	return fd;
}

/* Accepts one connection within WAIT_LIMIT_S, or -1. */
static int accept_one(int listener)
{
	struct pollfd pfd = {.fd = listener, .events = POLLIN, .revents = 0};
	int fd;

	if (poll(&pfd, 1, (int)(WAIT_LIMIT_S * 1000)) <= 0)
		return -1;
	fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		set_nodelay(fd);
		set_nonblocking(fd);
	}
	return fd;
}

static int connect_loopback(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	set_nodelay(fd);
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	set_nonblocking(fd);
	return fd;
}

/* Runs turns until the session is READY (1), or it closed, the connection
 * ended or the deadline passed (0, with p->reason or p->error saying why). */
static int peer_until_ready(struct peer *p, double deadline)
{
	while (!p->ready) {
		if (p->closed || p->eof || p->error[0])
			return 0;
		if (monotonic_s() > deadline) {
			copy_reason(p->error, "timed out before READY");
			return 0;
		}
		if (peer_turn(p, 100) < 0)
			return 0;
	}
	return 1;
}

/* Writes everything queued, within the deadline.  Returns 0 or -1. */
static int peer_drain(struct peer *p, double deadline)
{
	while (queued(p->s) > 0) {
		if (monotonic_s() > deadline) {
			copy_reason(p->error, "timed out writing");
			return -1;
		}
		if (p->eof) {
			copy_reason(p->error, "connection closed with output queued");
			return -1;
		}
		if (peer_turn(p, 100) < 0)
			return -1;
	}
	return 0;
}

/* Runs turns until the other side closes the connection.  Returns 0 or -1. */
static int peer_until_eof(struct peer *p, double deadline)
{
	while (!p->eof) {
		if (monotonic_s() > deadline) {
			copy_reason(p->error, "timed out waiting for the other side to close");
			return -1;
		}
		if (peer_turn(p, 100) < 0)
			return -1;
	}
	return 0;
}

static const char *peer_why(const struct peer *p)
{
	if (p->error[0])
		return p->error;
	if (p->closed)
		return p->reason;
	if (p->eof)
		return "connection closed by the other side";
	return "unknown";
}

/* Results travel from a child to the parent as this struct over a pipe. */
struct child_result {
	int ok;
	char error[ERROR_MAX];
	double t_start, t_end; /* CLOCK_MONOTONIC seconds */
	double cpu_s;
	uint64_t count;        /* blocks sent/received, or handshakes */
	uint64_t failures;
	uint64_t blob_bytes;
	uint64_t wire_bytes_blocks; /* stats recv_by_type[BLOCK] or sent_by_type[BLOCK] */
	uint64_t wire_bytes_total;
	int remote_initiated;
};

static void child_report(int fd, const struct child_result *r)
{
	const uint8_t *p = (const uint8_t *)r;
	size_t left = sizeof(*r);

	while (left > 0) {
		ssize_t w = write(fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(EXIT_USAGE);
		p += w;
		left -= (size_t)w;
	}
	close(fd);
}

/* Reads a child's result; 0, or -1 when the child died without one. */
static int child_collect(int fd, struct child_result *r)
{
	uint8_t *p = (uint8_t *)r;
	size_t have = 0;

	while (have < sizeof(*r)) {
		ssize_t n = read(fd, p + have, sizeof(*r) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	return have == sizeof(*r) ? 0 : -1;
}

/* Waits for a child; returns its exit status (or 128 + signal). */
static int child_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

static pid_t fork_or_die(void)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	return pid;
}

static void pipe_or_die(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		fatal("pipe: %s", strerror(errno));
}

/* ---- stream: bulk blocks through the transport ------------------------ */

/* The listening node: accepts one connection, counts blocks until the
 * dialer's disconnect. */
static void stream_receiver(int listener, const char *network, int report_fd)
{
	struct child_result r;
	struct node n;
	struct peer p;
	uint8_t *inbuf = xmalloc(READ_CHUNK);
	double cpu0;
	int fd;

	memset(&r, 0, sizeof(r));
	node_init(&n, network);
	cpu0 = process_cpu_s();
	fd = accept_one(listener);
	close(listener);
	if (fd < 0) {
		copy_reason(r.error, "receiver: no connection");
		child_report(report_fd, &r);
		_exit(EXIT_FAILED);
	}
	peer_init(&p, fd, node_session(&n, 0), inbuf);
	if (!peer_until_ready(&p, monotonic_s() + WAIT_LIMIT_S)) {
		snprintf(r.error, sizeof(r.error), "receiver: handshake: %s", peer_why(&p));
	} else {
		r.t_start = monotonic_s();
		/* Until the dialer's disconnect; each turn may take long only
		 * when nothing arrives. */
		while (!p.closed && !p.eof && !p.error[0]) {
			double before = monotonic_s();

			if (peer_turn(&p, 1000) < 0)
				break;
			if (monotonic_s() - before > WAIT_LIMIT_S) {
				copy_reason(p.error, "nothing received for too long");
				break;
			}
		}
		if (p.closed && p.remote_initiated) {
			r.ok = 1;
		} else {
			snprintf(r.error, sizeof(r.error), "receiver: %s before the dialer's disconnect",
				 peer_why(&p));
		}
	}
	{
		const struct rumor_session_stats *st = rumor_session_stats(p.s);

		r.wire_bytes_blocks = st->recv_by_type[RUMOR_MSG_BLOCK];
		r.wire_bytes_total = st->bytes_recv;
	}
	r.t_end = p.t_last_block;
	r.count = p.blocks;
	r.blob_bytes = p.blob_bytes;
	r.failures = p.other_messages;
	r.remote_initiated = p.remote_initiated;
	r.cpu_s = process_cpu_s() - cpu0;
	(void)peer_flush(&p);
	close(fd);
	rumor_session_del(p.s);
	node_free(&n);
	free(inbuf);
	child_report(report_fd, &r);
	_exit(r.ok ? 0 : EXIT_FAILED);
}

/* The dialing node: connects, then sends blocks of `size` blob bytes for
 * `seconds`, keeping at most QUEUE_LOW_WATER plus one message queued. */
static void stream_sender(const struct sockaddr_in *addr, const char *network, size_t size,
			  double seconds, int report_fd)
{
	struct child_result r;
	struct node n;
	struct peer p;
	struct rumor_msg msg;
	uint8_t *blob = xmalloc(size);
	uint8_t *inbuf = xmalloc(READ_CHUNK);
	double cpu0, t_stop;
	int fd;

	memset(&r, 0, sizeof(r));
	node_init(&n, network);
	rumor_random(blob, size);
	memset(&msg, 0, sizeof(msg));
	msg.type = RUMOR_MSG_BLOCK;
	msg.u.block.item.ptr = blob;
	msg.u.block.item.len = (uint32_t)size;
	cpu0 = process_cpu_s();
	fd = connect_loopback(addr);
	if (fd < 0) {
		snprintf(r.error, sizeof(r.error), "sender: connect: %s", strerror(errno));
		child_report(report_fd, &r);
		_exit(EXIT_FAILED);
	}
	peer_init(&p, fd, node_session(&n, 1), inbuf);
	if (!peer_until_ready(&p, monotonic_s() + WAIT_LIMIT_S)) {
		snprintf(r.error, sizeof(r.error), "sender: handshake: %s", peer_why(&p));
		goto out;
	}

	r.t_start = monotonic_s();
	t_stop = r.t_start + seconds;
	for (;;) {
		struct pollfd pfd;
		int rc = 0;

		while (queued(p.s) < QUEUE_LOW_WATER &&
		       (rc = rumor_session_send(p.s, &msg, session_now_us())) == 0) {
			r.count++;
			r.blob_bytes += size;
		}
		if (rc != 0) {
			snprintf(r.error, sizeof(r.error), "sender: rumor_session_send: %s (%s)",
				 strerror(-rc), peer_why(&p));
			goto out;
		}
		if (peer_flush(&p) < 0 || p.closed || p.eof) {
			snprintf(r.error, sizeof(r.error), "sender: %s", peer_why(&p));
			goto out;
		}
		if (monotonic_s() >= t_stop)
			break;
		if (queued(p.s) < QUEUE_LOW_WATER)
			continue;
		/* The socket is full: wait until it drains (reading whatever
		 * the receiver sends meanwhile). */
		pfd.fd = fd;
		pfd.events = POLLIN | POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)(WAIT_LIMIT_S * 1000)) == 0) {
			copy_reason(r.error, "sender: the socket did not drain");
			goto out;
		}
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && peer_read(&p) < 0) {
			snprintf(r.error, sizeof(r.error), "sender: %s", peer_why(&p));
			goto out;
		}
		session_timers(&p);
	}
	/* Close from our side: the disconnect message goes after the last
	 * block; then wait for the receiver to close the connection. */
	rumor_session_close(p.s, RUMOR_DISCONNECT_SHUTDOWN, "bench done");
	if (peer_drain(&p, monotonic_s() + WAIT_LIMIT_S) < 0 ||
	    peer_until_eof(&p, monotonic_s() + WAIT_LIMIT_S) < 0) {
		snprintf(r.error, sizeof(r.error), "sender: closing: %s", peer_why(&p));
		goto out;
	}
	r.t_end = monotonic_s();
	r.ok = 1;
out:
	{
		const struct rumor_session_stats *st = rumor_session_stats(p.s);

		r.wire_bytes_blocks = st->sent_by_type[RUMOR_MSG_BLOCK];
		r.wire_bytes_total = st->bytes_sent;
	}
	r.cpu_s = process_cpu_s() - cpu0;
	close(fd);
	rumor_session_del(p.s);
	node_free(&n);
	free(blob);
	free(inbuf);
	child_report(report_fd, &r);
	_exit(r.ok ? 0 : EXIT_FAILED);
}

static int cmd_stream(int argc, char **argv)
{
	struct options o;
	struct sockaddr_in addr;
	struct child_result rx, tx;
	int rx_pipe[2], tx_pipe[2];
	int listener, rx_status, tx_status, ok;
	pid_t rx_pid, tx_pid;
	double elapsed, mbps, overhead;
	json_t *result;

	parse_options(argc, argv, &o, 1, RUMOR_MSG_BLOCK_MAX);
	listener = listen_loopback(&addr);
	pipe_or_die(rx_pipe);
	pipe_or_die(tx_pipe);

	rx_pid = fork_or_die();
	if (rx_pid == 0) {
		close(rx_pipe[0]);
		close(tx_pipe[0]);
		close(tx_pipe[1]);
		stream_receiver(listener, o.network, rx_pipe[1]);
	}
	close(listener);
	close(rx_pipe[1]);
	tx_pid = fork_or_die();
	if (tx_pid == 0) {
		close(rx_pipe[0]);
		close(tx_pipe[0]);
		stream_sender(&addr, o.network, o.size, o.seconds, tx_pipe[1]);
	}
	close(tx_pipe[1]);

	memset(&rx, 0, sizeof(rx));
	memset(&tx, 0, sizeof(tx));
	if (child_collect(tx_pipe[0], &tx) < 0)
		copy_reason(tx.error, "sender died without a result");
	if (child_collect(rx_pipe[0], &rx) < 0)
		copy_reason(rx.error, "receiver died without a result");
	tx_status = child_wait(tx_pid);
	rx_status = child_wait(rx_pid);

	ok = rx.ok && tx.ok && rx_status == 0 && tx_status == 0 && rx.blob_bytes == tx.blob_bytes &&
	     rx.count == tx.count && rx.failures == 0;
	elapsed = rx.t_end - tx.t_start;
	mbps = ok && elapsed > 0 ? (double)rx.blob_bytes / elapsed / 1e6 : 0.0;
	overhead = rx.blob_bytes ? (double)rx.wire_bytes_blocks / (double)rx.blob_bytes : 0.0;
	if (ok) {
		fprintf(stderr,
			"transport %zu B blocks: %.1f MB/s (%" PRIu64 " messages in %.2f s; "
			"wire/payload %.4f; cores: sender %.2f, receiver %.2f)\n",
			o.size, mbps, rx.count, elapsed, overhead, tx.cpu_s / (tx.t_end - tx.t_start),
			rx.cpu_s / elapsed);
	} else {
		fprintf(stderr,
			"transport %zu B blocks FAILED: sender: %s (exit %d); receiver: %s (exit %d); "
			"sent %" PRIu64 " blocks / %" PRIu64 " B, received %" PRIu64 " / %" PRIu64
			" B, %" PRIu64 " other messages\n",
			o.size, tx.ok ? "ok" : tx.error, tx_status, rx.ok ? "ok" : rx.error, rx_status,
			tx.count, tx.blob_bytes, rx.count, rx.blob_bytes, rx.failures);
	}
	result = json_pack(
		"{s:s, s:I, s:b, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:s, s:s}",
		"mode", "stream", "size", (json_int_t)o.size, "ok", ok, "MBps", mbps, "seconds",
		elapsed, "messages", (json_int_t)rx.count, "payload_bytes",
		(json_int_t)rx.blob_bytes, "wire_bytes_blocks", (json_int_t)rx.wire_bytes_blocks,
		"wire_bytes_total", (json_int_t)rx.wire_bytes_total, "sent_wire_bytes_blocks",
		(json_int_t)tx.wire_bytes_blocks, "wire_per_payload", overhead,
		"expected_wire_per_payload",
		(double)rumor_frame_encoded_size(RUMOR_MSG_ENVELOPE_SIZE + 4u + o.size) /
			(double)o.size,
		"sender_cpu_cores",
		tx.t_end > tx.t_start ? tx.cpu_s / (tx.t_end - tx.t_start) : 0.0,
		"receiver_cpu_cores", elapsed > 0 ? rx.cpu_s / elapsed : 0.0, "sender_error",
		tx.ok ? "" : tx.error, "receiver_error", rx.ok ? "" : rx.error);
	print_json_line(result);
	return ok ? 0 : EXIT_FAILED;
}

/* ---- handshakes over TCP ---------------------------------------------- */

/* The listening node: serves one connection at a time until told to stop
 * (a byte or EOF on stop_fd).  Each connection: run to READY, flush our
 * output, close.  Counts READY connections and failures. */
static void handshake_listener(int listener, int stop_fd, const char *network, int report_fd)
{
	struct child_result r;
	struct node n;
	uint8_t *inbuf = xmalloc(READ_CHUNK);
	double cpu0;

	memset(&r, 0, sizeof(r));
	node_init(&n, network);
	cpu0 = process_cpu_s();
	r.t_start = monotonic_s();
	for (;;) {
		struct pollfd pfds[2] = {
			{.fd = listener, .events = POLLIN, .revents = 0},
			{.fd = stop_fd, .events = POLLIN, .revents = 0},
		};
		struct peer p;
		int fd;

		int rc = poll(pfds, 2, (int)(WAIT_LIMIT_S * 1000));

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			copy_reason(r.error, "listener: nothing happened for too long");
			break;
		}
		if (pfds[1].revents)
			break;
		fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		set_nodelay(fd);
		set_nonblocking(fd);
		peer_init(&p, fd, node_session(&n, 0), inbuf);
		if (peer_until_ready(&p, monotonic_s() + WAIT_LIMIT_S) &&
		    peer_drain(&p, monotonic_s() + WAIT_LIMIT_S) == 0) {
			r.count++;
		} else {
			r.failures++;
			if (!r.error[0])
				snprintf(r.error, sizeof(r.error), "listener: %s", peer_why(&p));
		}
		close(fd);
		rumor_session_del(p.s);
	}
	r.t_end = monotonic_s();
	r.cpu_s = process_cpu_s() - cpu0;
	r.ok = r.failures == 0 && !r.error[0];
	close(listener);
	node_free(&n);
	free(inbuf);
	child_report(report_fd, &r);
	_exit(r.ok ? 0 : EXIT_FAILED);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmd_handshake_tcp(int argc, char **argv)
{
	struct options o;
	struct sockaddr_in addr;
	struct child_result lr;
	struct node n;
	int report_pipe[2], stop_pipe[2];
	int listener, status, ok;
	uint8_t *inbuf = xmalloc(READ_CHUNK);
	uint64_t count = 0, failures = 0;
	size_t lat_cap = 1024, lat_n = 0;
	double *latency = xmalloc(lat_cap * sizeof(*latency));
	double t0, t1 = 0, cpu0, cpu1, rate, p50 = 0, p99 = 0;
	char error[ERROR_MAX] = "";
	pid_t pid;
	json_t *result;

	parse_options(argc, argv, &o, 0, 0);
	listener = listen_loopback(&addr);
	pipe_or_die(report_pipe);
	pipe_or_die(stop_pipe);
	pid = fork_or_die();
	if (pid == 0) {
		close(report_pipe[0]);
		close(stop_pipe[1]);
		handshake_listener(listener, stop_pipe[0], o.network, report_pipe[1]);
	}
	close(listener);
	close(report_pipe[1]);
	close(stop_pipe[0]);

	node_init(&n, o.network);
	cpu0 = process_cpu_s();
	t0 = monotonic_s();
	do {
		double start = monotonic_s();
		struct peer p;
		int fd = connect_loopback(&addr);

		if (fd < 0) {
			snprintf(error, sizeof(error), "connect: %s", strerror(errno));
			failures++;
			break;
		}
		peer_init(&p, fd, node_session(&n, 1), inbuf);
		/* Done when we are READY and the listener, READY too, has
		 * closed the connection. */
		if (peer_until_ready(&p, start + WAIT_LIMIT_S) &&
		    peer_until_eof(&p, start + WAIT_LIMIT_S) == 0 && !p.closed) {
			count++;
			if (lat_n == lat_cap) {
				lat_cap *= 2;
				latency = realloc(latency, lat_cap * sizeof(*latency));
				if (latency == NULL)
					fatal("out of memory");
			}
			latency[lat_n++] = monotonic_s() - start;
		} else {
			failures++;
			if (!error[0])
				snprintf(error, sizeof(error), "dialer: %s", peer_why(&p));
		}
		close(fd);
		rumor_session_del(p.s);
		t1 = monotonic_s();
	} while (t1 - t0 < o.seconds && failures < 10);
	cpu1 = process_cpu_s();
	if (write(stop_pipe[1], "x", 1) != 1)
		fatal("cannot stop the listener: %s", strerror(errno));
	close(stop_pipe[1]);
	memset(&lr, 0, sizeof(lr));
	if (child_collect(report_pipe[0], &lr) < 0)
		copy_reason(lr.error, "listener died without a result");
	status = child_wait(pid);

	ok = failures == 0 && lr.ok && status == 0 && lr.count == count;
	rate = (double)count / (t1 - t0);
	if (lat_n > 0) {
		qsort(latency, lat_n, sizeof(*latency), cmp_double);
		p50 = latency[lat_n / 2];
		p99 = latency[(lat_n * 99) / 100 < lat_n ? (lat_n * 99) / 100 : lat_n - 1];
	}
	fprintf(stderr,
		"handshakes over TCP: %.1f/s (%" PRIu64 " in %.2f s, p50 %.3f ms, p99 %.3f ms; "
		"cores: dialer %.2f, listener %.2f)%s%s%s%s\n",
		rate, count, t1 - t0, p50 * 1e3, p99 * 1e3, (cpu1 - cpu0) / (t1 - t0),
		lr.cpu_s / (t1 - t0), ok ? "" : " FAILED: ", error, lr.error[0] ? "; " : "",
		lr.error);
	result = json_pack("{s:s, s:b, s:f, s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:s, s:s}",
			   "mode", "handshake-tcp", "ok", ok, "handshakes_per_s", rate,
			   "handshakes", (json_int_t)count, "seconds", t1 - t0, "latency_ms_p50",
			   p50 * 1e3, "latency_ms_p99", p99 * 1e3, "dialer_cpu_cores",
			   (cpu1 - cpu0) / (t1 - t0), "listener_cpu_cores", lr.cpu_s / (t1 - t0),
			   "listener_handshakes", (json_int_t)lr.count, "failures",
			   (json_int_t)(failures + lr.failures), "dialer_error", error,
			   "listener_error", lr.error);
	print_json_line(result);
	node_free(&n);
	free(latency);
	free(inbuf);
	return ok ? 0 : EXIT_FAILED;
}

/* ---- handshakes in memory --------------------------------------------- */

/* Moves a's queued output into b.  Returns the number of bytes moved. */
static size_t pump(struct peer *a, struct peer *b)
{
	const uint8_t *data;
	size_t n = rumor_session_output(a->s, &data);

	if (n > 0) {
		session_feed(b, data, n);
		rumor_session_output_consumed(a->s, n);
	}
	return n;
}

static int cmd_handshake_inproc(int argc, char **argv)
{
	struct options o;
	struct node dialer, listener;
	uint64_t count = 0;
	double t0, t1 = 0, cpu0, cpu1, rate;
	char error[ERROR_MAX] = "";
	json_t *result;

	parse_options(argc, argv, &o, 0, 0);
	node_init(&dialer, o.network);
	node_init(&listener, o.network);
	cpu0 = process_cpu_s();
	t0 = monotonic_s();
	do {
		struct peer a, b;
		unsigned int rounds = 0;

		peer_init(&a, -1, node_session(&dialer, 1), NULL);
		peer_init(&b, -1, node_session(&listener, 0), NULL);
		while (!(a.ready && b.ready) && !a.closed && !b.closed) {
			size_t moved = pump(&a, &b) + pump(&b, &a);

			if (moved == 0 || ++rounds > 16) {
				copy_reason(error, moved ? "too many rounds" : "stuck before READY");
				break;
			}
		}
		if (a.ready && b.ready && !a.closed && !b.closed)
			count++;
		else if (!error[0])
			snprintf(error, sizeof(error), "dialer: %s; listener: %s",
				 a.closed ? a.reason : "open", b.closed ? b.reason : "open");
		rumor_session_del(a.s);
		rumor_session_del(b.s);
		t1 = monotonic_s();
	} while (t1 - t0 < o.seconds && !error[0]);
	cpu1 = process_cpu_s();
	rate = (double)count / (t1 - t0);
	fprintf(stderr,
		"handshakes in memory: %.1f/s, one thread doing both sides (%" PRIu64
		" in %.2f s, %.1f us CPU each)%s%s\n",
		rate, count, t1 - t0, count ? (cpu1 - cpu0) * 1e6 / (double)count : 0.0,
		error[0] ? " FAILED: " : "", error);
	result = json_pack("{s:s, s:b, s:f, s:I, s:f, s:f, s:f, s:s}", "mode",
			   "handshake-inproc", "ok", !error[0], "handshakes_per_s", rate,
			   "handshakes", (json_int_t)count, "seconds", t1 - t0, "cpu_us_per_handshake",
			   count ? (cpu1 - cpu0) * 1e6 / (double)count : 0.0, "cpu_cores_used",
			   (cpu1 - cpu0) / (t1 - t0), "error", error);
	print_json_line(result);
	node_free(&dialer);
	node_free(&listener);
	return error[0] ? EXIT_FAILED : 0;
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: bench-transport raw --size=BYTES [--seconds=S]\n"
	      "       bench-transport stream --size=BYTES [--seconds=S] [--network=NAME]\n"
	      "       bench-transport handshake-tcp [--seconds=S] [--network=NAME]\n"
	      "       bench-transport handshake-inproc [--seconds=S] [--network=NAME]\n"
	      "BYTES may end in K (KiB) or M (MiB); S defaults to 3.\n"
	      "Each prints one JSON object on stdout and a summary on stderr.\n"
	      "See contrib/bench/README.md, section transport.\n",
	      f);
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (rumor_crypto_init() != 0)
		fatal("cannot initialise libsodium");
	signal(SIGPIPE, SIG_IGN);
	cmd = argv[1];
	if (strcmp(cmd, "raw") == 0)
		return cmd_raw(argc - 1, argv + 1);
	if (strcmp(cmd, "stream") == 0)
		return cmd_stream(argc - 1, argv + 1);
	if (strcmp(cmd, "handshake-tcp") == 0)
		return cmd_handshake_tcp(argc - 1, argv + 1);
	if (strcmp(cmd, "handshake-inproc") == 0)
		return cmd_handshake_inproc(argc - 1, argv + 1);
	usage(stderr);
	return EXIT_USAGE;
}
