/*
 * test/functional/peer_tool.c: a crafted peer for the functional tests.
 *
 * It dials a rumord over one blocking TCP socket and either behaves (a
 * complete handshake and hello through our own sans-IO session,
 * net/session.h) or misbehaves in one precise way, then reports what the
 * node did.  The test scripts (test_p2p_*.py) run it and look at the exit
 * status and the stdout lines.
 *
 * Usage:
 *   peer_tool --connect=HOST:PORT --network=NAME [--psk=FILE]
 *             [--expect=NODEID] [--bind=ADDR] [--timeout=SECONDS]
 *             [--seconds=N] MODE
 *
 *   --psk=FILE      the network's pre-shared key (64 hex chars + newline)
 *   --expect=ID     the node id the node must prove (hex, 64 chars)
 *   --bind=ADDR     local address to connect from (e.g. 127.0.0.2)
 *   --timeout=S     bound of every wait (default 20 s)
 *   --seconds=N     how long `hold` (and the attack modes) stay (default 5)
 *
 * Attack modes and their options (--count, --per-msg, --conns, --addrs,
 * --netgroups, --source, --txs, --badsig, --unrequested, --item=HEX,
 * --getdata=ID): invflood, invbig, payload, bigblock, getdataflood,
 * slowreader, connflood, squat; see test/functional/peer_attack.c.
 *
 * Modes (session = through net/session.c; manual = a second, independent
 * initiator written here from the wire description in net/session.h and
 * net/frame.h, needed where we must forge what the session refuses to send):
 *   handshake       session: handshake + hello, then one ping round trip so
 *                   that a node that accepts and at once drops us is caught;
 *                   prints "ready NODEID".
 *   hold            session: like handshake, then stays connected --seconds
 *                   seconds answering pings; prints "ready NODEID" as soon
 *                   as the hello exchange is done and "held" at the end.
 *   manual          manual: handshake + hello, prints "ready NODEID" (checks
 *                   that the documented wire format is what the node speaks).
 *   random          4 KiB of random bytes instead of a handshake.
 *   truncated       half of handshake message 1, then silence: the node must
 *                   close on its own (handshake timeout, 10 s).
 *   truncated-close half of handshake message 1, then we close.  Exit 0.
 *   nohello         manual: the Noise handshake with identity proofs, then
 *                   silence instead of our hello: the node must close on its
 *                   own (handshake + hello timeout, 10 s).
 *   tamper          session: handshake + hello, then a ping frame with one
 *                   ciphertext byte flipped.
 *   badlength       manual: handshake + hello, then a correctly encrypted
 *                   frame header announcing an impossible payload length (5).
 *   oversized       manual: handshake + hello, then full continuation frames
 *                   until the message would pass RUMOR_FRAME_MESSAGE_MAX.
 *   notfoundflood   session: handshake + hello, then notfound messages of
 *                   1000 ids, written as fast as the node takes them, for
 *                   --seconds (reading, never answering); prints "flooded
 *                   N entries" and "held" (exit 0) or "closed: REASON"
 *                   (exit 1).  The node's message budget must make it wait.
 *
 * For the hostile modes (random, truncated, nohello, tamper, badlength,
 * oversized),
 * success means the node closed the connection within --timeout; the tool
 * prints "closed" (and the node's disconnect reason when it sent one).
 *
 * Exit status:
 *   0   the expected outcome (handshake/hold/manual: connected; hostile
 *       modes: the node closed the connection; truncated-close: sent)
 *   1   handshake/hold/manual: the node refused or dropped us (the reason,
 *       ours or the node's, on stderr)
 *   2   hostile modes: the node still held the connection open at --timeout
 *   3   cannot connect (TCP), or a local I/O error
 *   4   hostile modes: the handshake needed before the attack failed
 *   5   handshake/hold/manual: no answer within --timeout
 *   64  usage error
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "crypto/hex.h"
#include "crypto/item.h"
#include "crypto/noise.h"
#include "crypto/sign.h"
#include "net/frame.h"
#include "net/message.h"
#include "net/session.h"
#include "test/functional/peer_tool.h"

void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

void complain(const char *fmt, ...)
{
	va_list ap;

	fputs("peer_tool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void hex_print(const char *label, const uint8_t *bytes, size_t len)
{
	char hex[2 * 64 + 1];

	rumor_hex_encode(bytes, len, hex);
	say("%s %s", label, hex);
}

/* ---- options ---- */

static int usage(const char *why)
{
	if (why)
		complain("%s", why);
	fputs("usage: peer_tool --connect=HOST:PORT --network=NAME [--psk=FILE] [--expect=NODEID]\n"
	      "                 [--bind=ADDR] [--timeout=SECONDS] [--seconds=N] [ATTACK OPTIONS] MODE\n"
	      "modes: handshake hold manual random truncated truncated-close nohello tamper "
	      "notfoundflood badlength oversized\n"
	      "attacks (test/functional/peer_attack.c): invflood invbig payload bigblock "
	      "getdataflood slowreader connflood squat\n"
	      "attack options: --count=N --per-msg=N --conns=N --addrs=N --netgroups=N --source=N\n"
	      "                --txs=N --badsig --unrequested --item=HEX --getdata=ID\n",
	      stderr);
	return EXIT_USAGE;
}

static int parse_hex32(const char *text, size_t len, uint8_t out[32])
{
	return len == 64 && rumor_hex_decode(text, 64, out) == 32 ? 0 : -1;
}

static int read_psk(const char *path, uint8_t psk[32])
{
	char buf[80];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f) {
		complain("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (parse_hex32(buf, n, psk) != 0) {
		complain("%s: want 64 hex characters and a newline", path);
		return -1;
	}
	return 0;
}

static int parse_seconds(const char *text, uint64_t *out_us)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || *end || !(v > 0) || v > 3600)
		return -1;
	*out_us = (uint64_t)(v * 1e6);
	return 0;
}

static int parse_count(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_options(struct tool *t, int argc, char **argv)
{
	enum {
		OPT_CONNECT = 1, OPT_NETWORK, OPT_PSK, OPT_EXPECT, OPT_BIND, OPT_TIMEOUT, OPT_SECONDS,
		OPT_COUNT, OPT_PER_MSG, OPT_CONNS, OPT_ADDRS, OPT_NETGROUPS, OPT_SOURCE, OPT_TXS,
		OPT_BADSIG, OPT_UNREQUESTED, OPT_ITEM, OPT_GETDATA,
	};
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, OPT_CONNECT },
		{ "network", required_argument, NULL, OPT_NETWORK },
		{ "psk", required_argument, NULL, OPT_PSK },
		{ "expect", required_argument, NULL, OPT_EXPECT },
		{ "bind", required_argument, NULL, OPT_BIND },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "per-msg", required_argument, NULL, OPT_PER_MSG },
		{ "conns", required_argument, NULL, OPT_CONNS },
		{ "addrs", required_argument, NULL, OPT_ADDRS },
		{ "netgroups", required_argument, NULL, OPT_NETGROUPS },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "txs", required_argument, NULL, OPT_TXS },
		{ "badsig", no_argument, NULL, OPT_BADSIG },
		{ "unrequested", no_argument, NULL, OPT_UNREQUESTED },
		{ "item", required_argument, NULL, OPT_ITEM },
		{ "getdata", required_argument, NULL, OPT_GETDATA },
		{ NULL, 0, NULL, 0 },
	};
	const char *network = NULL;
	char *colon;
	uint64_t v = 0;
	int c;

	t->timeout_us = 20 * 1000000ull;
	t->hold_us = 5 * 1000000ull;
	t->count = 0;   /* each mode has its own default */
	t->per_msg = 0;
	t->conns = 1;
	t->netgroups = 1;
	t->source = 100;
	t->txs = RUMOR_BLOCK_TX_MAX;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONNECT:
			colon = strrchr(optarg, ':');
			if (!colon || colon == optarg || !colon[1])
				return usage("--connect wants HOST:PORT");
			*colon = '\0';
			t->host = optarg;
			t->port = colon + 1;
			if (t->host[0] == '[' && colon[-1] == ']') { /* [IPV6]:PORT */
				colon[-1] = '\0';
				t->host++;
			}
			break;
		case OPT_NETWORK:
			network = optarg;
			break;
		case OPT_PSK:
			if (read_psk(optarg, t->psk) != 0)
				return EXIT_USAGE;
			t->has_psk = 1;
			break;
		case OPT_EXPECT:
			if (parse_hex32(optarg, strlen(optarg), t->expected_id) != 0)
				return usage("--expect wants a 64-hex-character node id");
			t->has_expected_id = 1;
			break;
		case OPT_BIND:
			t->bind_addr = optarg;
			break;
		case OPT_TIMEOUT:
			if (parse_seconds(optarg, &t->timeout_us) != 0)
				return usage("bad --timeout");
			break;
		case OPT_SECONDS:
			if (parse_seconds(optarg, &t->hold_us) != 0)
				return usage("bad --seconds");
			break;
		case OPT_COUNT:
			if (parse_count(optarg, 1, 10000000, &v) != 0)
				return usage("--count wants 1..10000000");
			t->count = v;
			break;
		case OPT_PER_MSG:
			if (parse_count(optarg, 1, 1000000, &v) != 0)
				return usage("--per-msg wants 1..1000000");
			t->per_msg = v;
			break;
		case OPT_CONNS:
			if (parse_count(optarg, 1, CONNS_MAX, &v) != 0)
				return usage("--conns wants 1..900");
			t->conns = (uint32_t)v;
			break;
		case OPT_ADDRS:
			if (parse_count(optarg, 1, CONNS_MAX, &v) != 0)
				return usage("--addrs wants 1..900");
			t->addrs = (uint32_t)v;
			break;
		case OPT_NETGROUPS:
			if (parse_count(optarg, 1, 64, &v) != 0)
				return usage("--netgroups wants 1..64");
			t->netgroups = (uint32_t)v;
			break;
		case OPT_SOURCE:
			if (parse_count(optarg, 1, 190, &v) != 0)
				return usage("--source wants 1..190 (127.SOURCE.0.1 is the first address)");
			t->source = (uint32_t)v;
			break;
		case OPT_TXS:
			if (parse_count(optarg, 0, RUMOR_BLOCK_TX_MAX, &v) != 0)
				return usage("--txs wants 0..131066");
			t->txs = (uint32_t)v;
			break;
		case OPT_BADSIG:
			t->badsig = 1;
			break;
		case OPT_UNREQUESTED:
			t->unrequested = 1;
			break;
		case OPT_ITEM: {
			size_t n = strlen(optarg);

			free(t->item);
			t->item = malloc(n / 2 + 1);
			if (!t->item || n == 0 || n % 2 || n / 2 > RUMOR_ITEM_SIZE_MAX ||
			    rumor_hex_decode(optarg, n, t->item) != (long)(n / 2))
				return usage("--item wants the hex of one item");
			t->item_len = n / 2;
			break;
		}
		case OPT_GETDATA:
			if (parse_hex32(optarg, strlen(optarg), t->getdata_id) != 0)
				return usage("--getdata wants a 64-hex-character item id");
			t->has_getdata = 1;
			break;
		default:
			return usage(NULL);
		}
	}
	if (optind != argc - 1)
		return usage("exactly one MODE");
	t->mode = argv[optind];
	if (!t->host)
		return usage("--connect is required");
	if (!network)
		return usage("--network is required");
	if (rumor_network_init(&t->network, network) != 0)
		return usage("bad --network name");
	return 0;
}

/* ---- socket ---- */

/* A TCP socket to HOST:PORT from bind_addr (NULL: any), connected, or (with
 * nonblock) with its connect under way.  Returns the descriptor or -1
 * (reported). */
int open_socket(const struct tool *t, const char *bind_addr, int nonblock)
{
	struct addrinfo hints, *res = NULL, *local = NULL;
	int fd, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(t->host, t->port, &hints, &res);
	if (rc != 0) {
		complain("bad address %s:%s: %s", t->host, t->port, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0) {
		complain("socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	if (bind_addr) {
		hints.ai_family = res->ai_family;
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		rc = getaddrinfo(bind_addr, "0", &hints, &local);
		if (rc != 0 || bind(fd, local->ai_addr, local->ai_addrlen) != 0) {
			complain("cannot bind to %s: %s", bind_addr,
				 rc != 0 ? gai_strerror(rc) : strerror(errno));
			if (local)
				freeaddrinfo(local);
			freeaddrinfo(res);
			close(fd);
			return -1;
		}
		freeaddrinfo(local);
	}
	if (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && !(nonblock && errno == EINPROGRESS)) {
		complain("cannot connect to %s:%s: %s", t->host, t->port, strerror(errno));
		freeaddrinfo(res);
		close(fd);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int dial(struct tool *t)
{
	t->fd = open_socket(t, t->bind_addr, 0);
	return t->fd < 0 ? -1 : 0;
}

/* Writes everything.  Returns 0, or -1 when the node closed or reset the
 * connection (t->eof set) or another error happened. */
int write_all(struct tool *t, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EPIPE || errno == ECONNRESET)
				t->eof = 1;
			else
				complain("send: %s", strerror(errno));
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Waits until readable or deadline.  Returns 1 readable, 0 timeout, -1 error. */
static int wait_readable(struct tool *t, uint64_t deadline_us)
{
	for (;;) {
		uint64_t now = now_us();
		struct pollfd p = { .fd = t->fd, .events = POLLIN };
		int ms, rc;

		if (now >= deadline_us)
			return 0;
		ms = (int)((deadline_us - now + 999) / 1000);
		rc = poll(&p, 1, ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			complain("poll: %s", strerror(errno));
			return -1;
		}
		if (rc > 0)
			return 1;
	}
}

/* Reads what is there (after wait_readable).  Returns the count, 0 when the
 * node closed or reset the connection (t->eof set), -1 on another error. */
static ssize_t read_some(struct tool *t, uint8_t *buf, size_t cap)
{
	for (;;) {
		ssize_t n = recv(t->fd, buf, cap, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			t->eof = 1;
			return 0;
		}
		if (n < 0)
			complain("recv: %s", strerror(errno));
		return n;
	}
}

/* Reads exactly len bytes.  Returns 0, or -1 (t->eof when the node closed). */
static int read_exact(struct tool *t, uint8_t *buf, size_t len, uint64_t deadline_us)
{
	while (len > 0) {
		ssize_t n;
		int rc = wait_readable(t, deadline_us);

		if (rc <= 0) {
			if (rc == 0)
				complain("no answer within the timeout");
			return -1;
		}
		n = read_some(t, buf, len);
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- the session path ---- */

/* A fresh initiator session with this identity (an Ed25519 secret key and
 * a Noise static key) and a fresh ephemeral key.  Returns 0 or -1. */
int session_new_with(const struct tool *t, const uint8_t *id_secret, const uint8_t noise_static[32],
		     struct rumor_session **out)
{
	struct rumor_session_config cfg;
	uint64_t now = now_us();
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.initiator = 1;
	cfg.network = &t->network;
	cfg.identity_secret = id_secret;
	memcpy(cfg.noise_static_priv, noise_static, 32);
	rumor_random(cfg.ephemeral_priv, sizeof(cfg.ephemeral_priv));
	cfg.has_psk = t->has_psk;
	memcpy(cfg.psk, t->psk, 32);
	cfg.has_expected_id = t->has_expected_id;
	memcpy(cfg.expected_id, t->expected_id, 32);
	cfg.services = 0;
	cfg.best_height = 0;
	cfg.listen_port = 0;
	rumor_random(&cfg.hello_nonce, sizeof(cfg.hello_nonce));
	cfg.wall_clock_offset_s = (int64_t)time(NULL) - (int64_t)(now / 1000000u);
	rumor_session_limits_default(&cfg.limits);
	rc = rumor_session_new(out, &cfg, now);
	memset(&cfg, 0, sizeof(cfg));
	if (rc != 0) {
		complain("rumor_session_new: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

static int session_start(struct tool *t)
{
	return session_new_with(t, t->id_secret, t->noise_static, &t->session);
}

/* Writes all queued session output.  Returns 0 or -1. */
static int session_flush(struct tool *t)
{
	const uint8_t *data;
	size_t n;

	while ((n = rumor_session_output(t->session, &data)) > 0) {
		if (write_all(t, data, n) != 0)
			return -1;
		rumor_session_output_consumed(t->session, n);
	}
	return 0;
}

static void session_event(struct tool *t, const struct rumor_session_event *ev)
{
	switch (ev->type) {
	case RUMOR_SESSION_EV_NONE:
	case RUMOR_SESSION_EV_MESSAGE:
		break;
	case RUMOR_SESSION_EV_READY:
		t->ready = 1;
		break;
	case RUMOR_SESSION_EV_CLOSED:
		if (!t->close_reason) {
			t->close_reason = ev->reason ? ev->reason : "(no reason)";
			t->close_remote = ev->remote_initiated;
		}
		break;
	}
}

static void session_feed(struct tool *t, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	for (;;) {
		struct rumor_session_event ev = { .type = RUMOR_SESSION_EV_NONE };
		size_t used = 0;

		rumor_session_recv(t->session, buf + off, len - off, now_us(), &used, &ev);
		if (used > len - off) {
			complain("BUG: session consumed %zu of %zu bytes", used, len - off);
			abort();
		}
		off += used;
		session_event(t, &ev);
		if (ev.type == RUMOR_SESSION_EV_NONE) {
			if (off == len)
				return;
			if (used == 0) {
				complain("BUG: session consumed nothing and reported no event");
				abort();
			}
		}
	}
}

enum pump_result { PUMP_DONE, PUMP_CLOSED, PUMP_TIMEOUT, PUMP_ERROR };

/* Moves bytes and runs timers until stop(t) is true, the session closes,
 * the node closes the socket, or the deadline passes. */
static enum pump_result session_pump(struct tool *t, uint64_t deadline_us, int (*stop)(struct tool *))
{
	uint8_t buf[65536];

	for (;;) {
		uint64_t now, expiry, wake;
		ssize_t n;
		int rc;

		if (session_flush(t) != 0 && !t->eof)
			return PUMP_ERROR;
		if (t->close_reason || rumor_session_state(t->session) == RUMOR_SESSION_CLOSED)
			return PUMP_CLOSED;
		if (t->eof)
			return PUMP_CLOSED;
		if (stop && stop(t))
			return PUMP_DONE;
		now = now_us();
		if (now >= deadline_us)
			return PUMP_TIMEOUT;
		expiry = rumor_session_expiry(t->session);
		if (expiry <= now) {
			struct rumor_session_event ev = { .type = RUMOR_SESSION_EV_NONE };

			rumor_session_handle_expiry(t->session, now, &ev);
			session_event(t, &ev);
			continue;
		}
		wake = expiry < deadline_us ? expiry : deadline_us;
		rc = wait_readable(t, wake);
		if (rc < 0)
			return PUMP_ERROR;
		if (rc == 0)
			continue;
		n = read_some(t, buf, sizeof(buf));
		if (n < 0)
			return PUMP_ERROR;
		if (n > 0)
			session_feed(t, buf, (size_t)n);
	}
}

static int stop_when_ready(struct tool *t)
{
	return t->ready;
}

static uint64_t confirm_msgs_recv;
static int stop_when_answered(struct tool *t)
{
	return rumor_session_stats(t->session)->msgs_recv > confirm_msgs_recv;
}

static const char *session_why(struct tool *t)
{
	const char *r = t->close_reason;

	if (!r && t->session)
		r = rumor_session_close_reason(t->session);
	if (!r)
		r = t->eof ? "the node closed the connection" : "unknown";
	return r;
}

/* Handshake + hello through the session.  Returns EXIT_OK when READY, or the
 * exit status for the failure (reason on stderr). */
static int session_connect(struct tool *t)
{
	enum pump_result r;

	if (session_start(t) != 0)
		return EXIT_IO;
	r = session_pump(t, now_us() + t->timeout_us, stop_when_ready);
	switch (r) {
	case PUMP_DONE:
		hex_print("ready", rumor_session_remote_id(t->session), 32);
		return EXIT_OK;
	case PUMP_CLOSED:
		complain("refused: %s%s", session_why(t),
			 t->close_remote ? " (the node sent disconnect)" : "");
		return EXIT_REFUSED;
	case PUMP_TIMEOUT:
		complain("no handshake within the timeout (state %d)",
			 (int)rumor_session_state(t->session));
		return EXIT_TIMEOUT;
	case PUMP_ERROR:
		break;
	}
	return EXIT_IO;
}

/* After READY: a ping, and wait until the node has sent us any message
 * (its pong).  A node that accepts the handshake and then drops us (a slot
 * limit applied late) is caught here. */
static int session_confirm(struct tool *t)
{
	struct rumor_msg ping;
	enum pump_result r;
	int rc;

	memset(&ping, 0, sizeof(ping));
	ping.type = RUMOR_MSG_PING;
	rumor_random(&ping.u.ping.nonce, sizeof(ping.u.ping.nonce));
	confirm_msgs_recv = rumor_session_stats(t->session)->msgs_recv;
	rc = rumor_session_send(t->session, &ping, now_us());
	if (rc != 0) {
		complain("cannot send ping: %s", strerror(-rc));
		return EXIT_IO;
	}
	r = session_pump(t, now_us() + t->timeout_us, stop_when_answered);
	switch (r) {
	case PUMP_DONE:
		return EXIT_OK;
	case PUMP_CLOSED:
		complain("dropped after the handshake: %s%s", session_why(t),
			 t->close_remote ? " (the node sent disconnect)" : "");
		return EXIT_REFUSED;
	case PUMP_TIMEOUT:
		complain("no answer to our ping within the timeout");
		return EXIT_TIMEOUT;
	case PUMP_ERROR:
		break;
	}
	return EXIT_IO;
}

static int mode_handshake(struct tool *t)
{
	int rc = session_connect(t);

	if (rc == EXIT_OK)
		rc = session_confirm(t);
	if (rc == EXIT_OK)
		say("ok");
	return rc;
}

static int mode_hold(struct tool *t)
{
	enum pump_result r;
	int rc = session_connect(t);

	if (rc != EXIT_OK)
		return rc;
	r = session_pump(t, now_us() + t->hold_us, NULL);
	switch (r) {
	case PUMP_TIMEOUT: /* held for the whole time */
		say("held");
		return EXIT_OK;
	case PUMP_DONE:
	case PUMP_CLOSED:
		complain("dropped while holding: %s%s", session_why(t),
			 t->close_remote ? " (the node sent disconnect)" : "");
		return EXIT_REFUSED;
	case PUMP_ERROR:
		break;
	}
	return EXIT_IO;
}

/* ---- waiting for the node to close (hostile modes) ---- */

/* Reads and drops (or feeds to the session, for its disconnect reason)
 * everything until the node closes.  Returns EXIT_OK or EXIT_STILL_OPEN. */
int expect_close(struct tool *t, uint64_t deadline_us)
{
	uint8_t buf[65536];

	while (!t->eof) {
		ssize_t n;
		int rc = wait_readable(t, deadline_us);

		if (rc < 0)
			return EXIT_IO;
		if (rc == 0) {
			say("still open");
			complain("the node did not close the connection within the timeout");
			return EXIT_STILL_OPEN;
		}
		n = read_some(t, buf, sizeof(buf));
		if (n < 0)
			return EXIT_IO;
		if (n > 0 && t->session)
			session_feed(t, buf, (size_t)n);
	}
	if (t->close_remote && t->close_reason)
		say("closed: %s", t->close_reason);
	else
		say("closed");
	return EXIT_OK;
}

static int mode_random(struct tool *t)
{
	uint8_t junk[RANDOM_BYTES];

	rumor_random(junk, sizeof(junk));
	/* A reset half-way is a close.  No shutdown afterwards: the node must
	 * close because of the bytes, not because we went away. */
	(void)write_all(t, junk, sizeof(junk));
	return expect_close(t, now_us() + t->timeout_us);
}

/* Half of handshake message 1 (length prefix included). */
static int send_half_message1(struct tool *t)
{
	const uint8_t *data;
	size_t n;

	if (session_start(t) != 0)
		return -1;
	n = rumor_session_output(t->session, &data);
	if (n < 4) {
		complain("BUG: the session queued %zu bytes of message 1", n);
		return -1;
	}
	return write_all(t, data, n / 2);
}

static int mode_truncated(struct tool *t)
{
	if (send_half_message1(t) != 0 && !t->eof)
		return EXIT_IO;
	/* no shutdown: a half-open connection that says nothing more */
	return expect_close(t, now_us() + t->timeout_us);
}

static int mode_truncated_close(struct tool *t)
{
	if (send_half_message1(t) != 0 && !t->eof)
		return EXIT_IO;
	say("sent half of message 1 and closed");
	return EXIT_OK;
}

static int mode_tamper(struct tool *t)
{
	struct rumor_msg ping;
	const uint8_t *data;
	uint8_t frame[RUMOR_FRAME_HEADER_SIZE + 64];
	size_t n;
	int rc = session_connect(t);

	if (rc != EXIT_OK)
		return rc == EXIT_REFUSED || rc == EXIT_TIMEOUT ? EXIT_NO_HANDSHAKE : rc;
	if (session_flush(t) != 0)
		return t->eof ? EXIT_NO_HANDSHAKE : EXIT_IO;
	memset(&ping, 0, sizeof(ping));
	ping.type = RUMOR_MSG_PING;
	ping.u.ping.nonce = 0x0123456789abcdefull;
	rc = rumor_session_send(t->session, &ping, now_us());
	if (rc != 0) {
		complain("cannot queue the ping: %s", strerror(-rc));
		return EXIT_IO;
	}
	n = rumor_session_output(t->session, &data);
	if (n <= RUMOR_FRAME_HEADER_SIZE + RUMOR_FRAME_PAYLOAD_MIN || n > sizeof(frame)) {
		complain("BUG: a ping frame of %zu bytes", n);
		return EXIT_IO;
	}
	memcpy(frame, data, n);
	rumor_session_output_consumed(t->session, n);
	/* the first byte of the payload ciphertext: the marker */
	frame[RUMOR_FRAME_HEADER_SIZE] ^= 0x01;
	(void)write_all(t, frame, n);
	say("sent a ping frame with one flipped ciphertext byte");
	return expect_close(t, now_us() + t->timeout_us);
}

/* ---- the manual initiator ---- */

static void build_prologue(const struct tool *t, uint8_t out[PROLOGUE_SIZE])
{
	uint32_t v = RUMOR_PROTOCOL_VERSION;

	memcpy(out, PROLOGUE_TAG, PROLOGUE_TAG_SIZE); /* includes the NUL */
	out[10] = (uint8_t)v;
	out[11] = (uint8_t)(v >> 8);
	out[12] = (uint8_t)(v >> 16);
	out[13] = (uint8_t)(v >> 24);
	memcpy(out + 14, t->network.id, 32);
}

/* node_id || sig over tag || network id || noise static public key */
static void build_proof(const struct tool *t, const uint8_t noise_pub[32],
			uint8_t out[RUMOR_IDENTITY_PROOF_SIZE])
{
	uint8_t signed_msg[IDENTITY_TAG_SIZE + 64];

	memcpy(signed_msg, IDENTITY_TAG, IDENTITY_TAG_SIZE);
	memcpy(signed_msg + IDENTITY_TAG_SIZE, t->network.id, 32);
	memcpy(signed_msg + IDENTITY_TAG_SIZE + 32, noise_pub, 32);
	memcpy(out, t->id_pub, 32);
	rumor_sign(t->id_secret, signed_msg, sizeof(signed_msg), out + 32);
}

static const char *check_proof(const struct tool *t, const uint8_t *proof, size_t len,
			       const uint8_t noise_pub[32])
{
	uint8_t signed_msg[IDENTITY_TAG_SIZE + 64];

	if (len != RUMOR_IDENTITY_PROOF_SIZE)
		return "the responder's payload is not a 96-byte identity proof";
	memcpy(signed_msg, IDENTITY_TAG, IDENTITY_TAG_SIZE);
	memcpy(signed_msg + IDENTITY_TAG_SIZE, t->network.id, 32);
	memcpy(signed_msg + IDENTITY_TAG_SIZE + 32, noise_pub, 32);
	if (rumor_sign_verify(proof, signed_msg, sizeof(signed_msg), proof + 32) != 0)
		return "the responder's identity signature does not verify";
	if (t->has_expected_id && memcmp(proof, t->expected_id, 32) != 0)
		return "the responder proved another node id";
	return NULL;
}

static int send_handshake_message(struct tool *t, const uint8_t *msg, size_t len)
{
	uint8_t buf[2 + RUMOR_NOISE_MAX_MESSAGE];

	buf[0] = (uint8_t)len;
	buf[1] = (uint8_t)(len >> 8);
	memcpy(buf + 2, msg, len);
	return write_all(t, buf, len + 2);
}

/* One frame: header = ENCRYPT(u16 LE payload length), payload =
 * ENCRYPT(marker || fragment); payload_len_override != 0 puts that length
 * in the header instead and sends the header only. */
int manual_send_frame(struct tool *t, struct manual *m, uint8_t marker, const uint8_t *frag,
			     size_t frag_len, uint16_t payload_len_override)
{
	static uint8_t plain[RUMOR_NOISE_MAX_PLAINTEXT];
	static uint8_t wire[RUMOR_FRAME_HEADER_SIZE + RUMOR_FRAME_PAYLOAD_MAX];
	uint8_t len_le[2];
	size_t hdr_len = 0, body_len = 0;
	size_t payload_len = 1 + frag_len + RUMOR_NOISE_TAG_SIZE;
	uint16_t announced = payload_len_override ? payload_len_override : (uint16_t)payload_len;
	int rc;

	if (frag_len > RUMOR_FRAME_FRAGMENT_MAX)
		return -1;
	len_le[0] = (uint8_t)announced;
	len_le[1] = (uint8_t)(announced >> 8);
	rc = rumor_noise_cipher_encrypt(&m->send, NULL, 0, len_le, 2, wire, sizeof(wire), &hdr_len);
	if (rc != 0) {
		complain("encrypt header: %s", strerror(-rc));
		return -1;
	}
	if (payload_len_override)
		return write_all(t, wire, hdr_len);
	plain[0] = marker;
	if (frag_len)
		memcpy(plain + 1, frag, frag_len);
	rc = rumor_noise_cipher_encrypt(&m->send, NULL, 0, plain, 1 + frag_len, wire + hdr_len,
					sizeof(wire) - hdr_len, &body_len);
	if (rc != 0) {
		complain("encrypt payload: %s", strerror(-rc));
		return -1;
	}
	return write_all(t, wire, hdr_len + body_len);
}

/* Reads frames until one whole message; *msg borrows the decoder. */
static int manual_read_message(struct tool *t, struct manual *m, const uint8_t **msg, size_t *len,
			       uint64_t deadline_us)
{
	static uint8_t buf[65536];
	static size_t have, off;

	for (;;) {
		while (off < have) {
			size_t used = 0;
			int rc = rumor_frame_decoder_feed(&m->dec, buf + off, have - off, &used, msg, len);

			if (rc < 0) {
				complain("cannot decode the node's frames: %s",
					 rumor_frame_decoder_reason(&m->dec));
				return -1;
			}
			off += used;
			if (rc == 1)
				return 0;
		}
		off = have = 0;
		if (wait_readable(t, deadline_us) <= 0) {
			complain("no message from the node within the timeout");
			return -1;
		}
		{
			ssize_t n = read_some(t, buf, sizeof(buf));

			if (n <= 0) {
				if (t->eof)
					complain("the node closed the connection");
				return -1;
			}
			have = (size_t)n;
		}
	}
}

/* Handshake, identity proofs and (unless skip_hello) hello written out by
 * hand.  Returns EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT or EXIT_IO. */
int manual_connect(struct tool *t, struct manual *m, int skip_hello)
{
	uint8_t prologue[PROLOGUE_SIZE], eph[32], hdr[2];
	uint8_t msg[RUMOR_NOISE_MAX_MESSAGE], payload[RUMOR_NOISE_MAX_MESSAGE];
	uint8_t proof[RUMOR_IDENTITY_PROOF_SIZE];
	uint8_t hello_buf[512];
	struct rumor_noise_cipher recv;
	struct rumor_msg hello, got;
	uint64_t deadline = now_us() + t->timeout_us;
	const uint8_t *rs, *in;
	size_t len = 0, plen = 0, in_len = 0, mlen;
	const char *why;
	int rc;

	build_prologue(t, prologue);
	rc = rumor_noise_handshake_init(&m->hs, t->has_psk ? RUMOR_NOISE_XXPSK3 : RUMOR_NOISE_XX, 1,
					prologue, sizeof(prologue), t->noise_static,
					t->has_psk ? t->psk : NULL);
	if (rc != 0)
		return EXIT_IO;
	rumor_random(eph, sizeof(eph));
	if (rumor_noise_handshake_set_ephemeral(&m->hs, eph) != 0 ||
	    rumor_noise_handshake_write(&m->hs, NULL, 0, msg, sizeof(msg), &len) != 0)
		return EXIT_IO;
	if (send_handshake_message(t, msg, len) != 0)
		return t->eof ? EXIT_REFUSED : EXIT_IO;
	/* message 2: e, ee, s, es + the responder's identity proof */
	if (read_exact(t, hdr, 2, deadline) != 0)
		return t->eof ? EXIT_REFUSED : EXIT_TIMEOUT;
	mlen = (size_t)hdr[0] | (size_t)hdr[1] << 8;
	if (read_exact(t, msg, mlen, deadline) != 0)
		return t->eof ? EXIT_REFUSED : EXIT_TIMEOUT;
	rc = rumor_noise_handshake_read(&m->hs, msg, mlen, payload, sizeof(payload), &plen);
	if (rc != 0) {
		complain("refused: handshake message 2: %s", rumor_noise_handshake_reason(&m->hs));
		return EXIT_REFUSED;
	}
	rs = rumor_noise_handshake_remote_static(&m->hs);
	why = check_proof(t, payload, plen, rs);
	if (why) {
		complain("refused: %s", why);
		return EXIT_REFUSED;
	}
	memcpy(m->remote_id, payload, 32);
	/* message 3: s, se (, psk) + our identity proof */
	build_proof(t, rumor_noise_handshake_local_static(&m->hs), proof);
	if (rumor_noise_handshake_write(&m->hs, proof, sizeof(proof), msg, sizeof(msg), &len) != 0)
		return EXIT_IO;
	if (send_handshake_message(t, msg, len) != 0)
		return t->eof ? EXIT_REFUSED : EXIT_IO;
	if (rumor_noise_handshake_split(&m->hs, &m->send, &recv) != 0)
		return EXIT_IO;
	rc = rumor_frame_decoder_init(&m->dec, &recv, RUMOR_FRAME_REKEY_INTERVAL);
	rumor_noise_cipher_free(&recv);
	if (rc != 0)
		return EXIT_IO;
	m->have_dec = 1;
	if (skip_hello) {
		hex_print("handshake done, no hello from", m->remote_id, 32);
		return EXIT_OK;
	}
	/* hello both ways */
	memset(&hello, 0, sizeof(hello));
	hello.type = RUMOR_MSG_HELLO;
	hello.u.hello.version = RUMOR_PROTOCOL_VERSION;
	hello.u.hello.network.ptr = (const uint8_t *)t->network.name;
	hello.u.hello.network.len = (uint16_t)strlen(t->network.name);
	hello.u.hello.user_agent.ptr = (const uint8_t *)TOOL_USER_AGENT;
	hello.u.hello.user_agent.len = (uint16_t)strlen(TOOL_USER_AGENT);
	hello.u.hello.timestamp = (uint64_t)time(NULL);
	rumor_random(&hello.u.hello.nonce, sizeof(hello.u.hello.nonce));
	if (rumor_msg_encode(&hello, hello_buf, sizeof(hello_buf), &len) != 0)
		return EXIT_IO;
	if (manual_send_frame(t, m, RUMOR_FRAME_MARKER_LAST, hello_buf, len, 0) != 0)
		return t->eof ? EXIT_REFUSED : EXIT_IO;
	if (manual_read_message(t, m, &in, &in_len, deadline) != 0)
		return t->eof ? EXIT_REFUSED : EXIT_TIMEOUT;
	why = rumor_msg_decode(&got, in, in_len);
	if (why || got.type != RUMOR_MSG_HELLO) {
		complain("refused: the node's first message is not a valid hello (%s)",
			 why ? why : rumor_msg_type_name(got.type) ? rumor_msg_type_name(got.type) : "?");
		return EXIT_REFUSED;
	}
	if (got.u.hello.version != RUMOR_PROTOCOL_VERSION) {
		complain("refused: hello version %u", got.u.hello.version);
		return EXIT_REFUSED;
	}
	hex_print("ready", m->remote_id, 32);
	return EXIT_OK;
}

void manual_free(struct manual *m)
{
	rumor_noise_handshake_free(&m->hs);
	rumor_noise_cipher_free(&m->send);
	if (m->have_dec)
		rumor_frame_decoder_free(&m->dec);
}

static int mode_manual(struct tool *t)
{
	struct manual m;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = manual_connect(t, &m, 0);
	manual_free(&m);
	return rc;
}

static int mode_nohello(struct tool *t)
{
	struct manual m;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = manual_connect(t, &m, 1);
	manual_free(&m);
	if (rc != EXIT_OK)
		return EXIT_NO_HANDSHAKE;
	return expect_close(t, now_us() + t->timeout_us);
}

static int mode_badlength(struct tool *t)
{
	struct manual m;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = manual_connect(t, &m, 0);
	if (rc != EXIT_OK) {
		manual_free(&m);
		return EXIT_NO_HANDSHAKE;
	}
	/* a correctly encrypted header announcing 5 bytes (< 17: impossible) */
	(void)manual_send_frame(t, &m, RUMOR_FRAME_MARKER_LAST, NULL, 0, 5);
	say("sent a frame header announcing a 5-byte payload");
	manual_free(&m);
	return expect_close(t, now_us() + t->timeout_us);
}

static int mode_oversized(struct tool *t)
{
	static uint8_t frag[RUMOR_FRAME_FRAGMENT_MAX];
	struct manual m;
	size_t total = 0;
	unsigned frames = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = manual_connect(t, &m, 0);
	if (rc != EXIT_OK) {
		manual_free(&m);
		return EXIT_NO_HANDSHAKE;
	}
	/* A tx message envelope, then filler: full "more follows" fragments
	 * until the reassembled message would pass the limit.  The node must
	 * give up at the latest when the limit is crossed. */
	memset(frag, 0xab, sizeof(frag));
	frag[0] = RUMOR_MSG_TX;
	frag[1] = 0;
	frag[2] = 0;
	while (total <= RUMOR_FRAME_MESSAGE_MAX && !t->eof) {
		if (manual_send_frame(t, &m, RUMOR_FRAME_MARKER_MORE, frag, sizeof(frag), 0) != 0)
			break;
		total += sizeof(frag);
		frames++;
	}
	say("sent %u continuation frames (%zu bytes of message, limit %u)%s", frames, total,
	    (unsigned)RUMOR_FRAME_MESSAGE_MAX, t->eof ? "; the node closed before the end" : "");
	manual_free(&m);
	return expect_close(t, now_us() + t->timeout_us);
}

static int mode_notfoundflood(struct tool *t)
{
	static struct rumor_inv_entry e[1000];
	uint8_t buf[65536];
	uint64_t sent = 0, end;
	int rc = session_connect(t);

	if (rc != EXIT_OK)
		return rc;
	end = now_us() + t->hold_us;
	while (now_us() < end && !t->eof && !t->close_reason &&
	       rumor_session_state(t->session) != RUMOR_SESSION_CLOSED) {
		struct rumor_msg m;
		size_t i;

		for (i = 0; i < 1000; i++) { /* ids nobody has: distinct, cheap */
			uint64_t k = sent + i;

			e[i].kind = RUMOR_ITEM_TX;
			memset(e[i].id, 0xab, sizeof(e[i].id));
			memcpy(e[i].id, &k, sizeof(k));
		}
		memset(&m, 0, sizeof(m));
		m.type = RUMOR_MSG_NOTFOUND;
		m.u.notfound.entries.entries = e;
		m.u.notfound.entries.count = 1000;
		if (rumor_session_send(t->session, &m, now_us()) != 0)
			break;
		if (session_flush(t) != 0) /* blocks while the node does not read */
			break;
		sent += 1000;
		while (wait_readable(t, now_us()) == 1) {
			ssize_t n = read_some(t, buf, sizeof(buf));

			if (n <= 0)
				break;
			session_feed(t, buf, (size_t)n);
		}
	}
	say("flooded %llu entries", (unsigned long long)sent);
	if (t->eof || t->close_reason || rumor_session_state(t->session) == RUMOR_SESSION_CLOSED) {
		say("closed: %s", session_why(t));
		return EXIT_REFUSED;
	}
	say("held");
	return EXIT_OK;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct tool *);
		int own_sockets; /* opens its connections itself */
	} modes[] = {
		{ "handshake", mode_handshake, 0 },
		{ "hold", mode_hold, 0 },
		{ "manual", mode_manual, 0 },
		{ "random", mode_random, 0 },
		{ "truncated", mode_truncated, 0 },
		{ "truncated-close", mode_truncated_close, 0 },
		{ "nohello", mode_nohello, 0 },
		{ "tamper", mode_tamper, 0 },
		{ "badlength", mode_badlength, 0 },
		{ "oversized", mode_oversized, 0 },
		{ "notfoundflood", mode_notfoundflood, 0 },
		{ "invflood", mode_invflood, 1 },
		{ "invbig", mode_invbig, 0 },
		{ "payload", mode_payload, 1 },
		{ "bigblock", mode_bigblock, 1 },
		{ "getdataflood", mode_getdataflood, 1 },
		{ "slowreader", mode_slowreader, 1 },
		{ "connflood", mode_connflood, 1 },
		{ "squat", mode_squat, 1 },
	};
	struct tool t;
	int (*run)(struct tool *) = NULL;
	int own_sockets = 0;
	int rc;
	size_t i;

	memset(&t, 0, sizeof(t));
	t.fd = -1;
	rc = parse_options(&t, argc, argv);
	if (rc != 0)
		return rc;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(t.mode, modes[i].name) == 0) {
			run = modes[i].run;
			own_sockets = modes[i].own_sockets;
		}
	if (!run)
		return usage("unknown MODE");
	if (rumor_crypto_init() != 0) {
		complain("crypto init failed");
		return EXIT_IO;
	}
	rumor_sign_keypair_random(t.id_pub, t.id_secret);
	rumor_random(t.noise_static, sizeof(t.noise_static));
	if (!own_sockets && dial(&t) != 0)
		return EXIT_IO;
	hex_print("local_id", t.id_pub, 32);
	rc = run(&t);
	if (t.session)
		rumor_session_del(t.session);
	if (t.fd >= 0)
		close(t.fd);
	free(t.item);
	memset(t.id_secret, 0, sizeof(t.id_secret));
	memset(t.noise_static, 0, sizeof(t.noise_static));
	return rc;
}
