/*
 * test/functional/relay_peer.c: a crafted peer for the relay functional
 * tests (test_relay_invalid.py).
 *
 * It dials one rumord, completes the real handshake with the node's own
 * session code (net/session.h: Noise XX, identity proof, hello) under a fresh
 * random identity, then misbehaves in one scripted way and reports what the
 * node did, one line per event on stdout:
 *
 *   node_id HEX              our (random) identity, printed first
 *   ready HEX                handshake and hello done; the node's id
 *   sent inv ID | sent tx ID
 *   recv getdata ID...       every getdata, with its ids
 *   recv TYPE                any other message from the node
 *   closed by node: REASON (code N)   the node sent disconnect
 *   eof | reset              the node closed the TCP connection
 *   closed: REASON           our session ended (protocol error, timeout)
 *   result ok | result fail: WHY
 *
 * Modes (--mode):
 *   invalid      announce --item's id with inv; when the node asks for it
 *                with getdata, send --item (the test gives an item whose
 *                signature does not verify); the node must then close the
 *                connection.
 *   unrequested  send --item as a tx message without any inv or getdata;
 *                the node must close the connection.
 *   reannounce   announce --item's id, then --item2's id (two inv
 *                messages); when a getdata asks for --item2, answer it and
 *                close.  ok only when --item's id was never requested
 *                (the node remembers ids it rejected).
 *   fetch        ask the node for --item (getdata, kind from --kind: tx or
 *                block) as a peer catching up would; ok only when the
 *                node sends exactly --item's bytes ("recv item ID"),
 *                fail on notfound.
 *
 * Exit status: 0 "result ok", 1 "result fail", 2 usage or setup error.
 * Every wait is bounded by --timeout (default 20 s).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "crypto/hex.h"
#include "crypto/item.h"
#include "crypto/sign.h"
#include "net/message.h"
#include "net/session.h"

enum mode { MODE_INVALID, MODE_UNREQUESTED, MODE_REANNOUNCE, MODE_FETCH };

struct peer {
	enum mode mode;
	struct rumor_session *session;
	int fd;
	uint8_t *item, *item2;
	size_t item_len, item2_len;
	uint8_t item_id[RUMOR_ID_SIZE], item2_id[RUMOR_ID_SIZE];
	int item_requested;  /* a getdata named item */
	int item_sent;       /* we sent item's payload */
	uint8_t fetch_kind;  /* fetch: the kind asked for */
	int done;            /* the script finished: exit with result */
	int ok;
	char why[256];
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void __attribute__((noreturn, format(printf, 1, 2))) setup_error(const char *fmt, ...)
{
	va_list ap;

	fputs("relay_peer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void print_id(const char *prefix, const uint8_t id[RUMOR_ID_SIZE])
{
	char hex[2 * RUMOR_ID_SIZE + 1];

	rumor_hex_encode(id, RUMOR_ID_SIZE, hex);
	printf("%s%s\n", prefix, hex);
	fflush(stdout);
}

static uint8_t *hex_arg(const char *name, const char *text, size_t *len)
{
	size_t n = strlen(text);
	uint8_t *buf;

	if (n == 0 || n % 2 || n / 2 > RUMOR_ITEM_SIZE_MAX)
		setup_error("--%s: expected hex of 1..%u bytes", name, RUMOR_ITEM_SIZE_MAX);
	buf = malloc(n / 2);
	if (!buf)
		setup_error("out of memory");
	if (rumor_hex_decode(text, n, buf) != (long)(n / 2))
		setup_error("--%s: not hex", name);
	*len = n / 2;
	return buf;
}

static void finish(struct peer *p, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void finish(struct peer *p, int ok, const char *fmt, ...)
{
	va_list ap;

	if (p->done)
		return;
	p->done = 1;
	p->ok = ok;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
}

static void send_msg(struct peer *p, const struct rumor_msg *m)
{
	int rc = rumor_session_send(p->session, m, now_us());

	if (rc < 0)
		finish(p, 0, "rumor_session_send(%s) failed: %s", rumor_msg_type_name(m->type),
		       strerror(-rc));
}

static void send_inv(struct peer *p, const uint8_t id[RUMOR_ID_SIZE])
{
	struct rumor_inv_entry e = { .kind = RUMOR_ITEM_TX };
	struct rumor_msg m = { .type = RUMOR_MSG_INV };

	memcpy(e.id, id, RUMOR_ID_SIZE);
	m.u.inv.entries.entries = &e;
	m.u.inv.entries.count = 1;
	send_msg(p, &m);
	print_id("sent inv ", id);
}

static void send_tx(struct peer *p, const uint8_t *item, size_t len, const uint8_t id[RUMOR_ID_SIZE])
{
	struct rumor_msg m = { .type = RUMOR_MSG_TX };

	m.u.tx.item.ptr = item;
	m.u.tx.item.len = (uint32_t)len;
	send_msg(p, &m);
	print_id("sent tx ", id);
}

static void on_ready(struct peer *p)
{
	print_id("ready ", rumor_session_remote_id(p->session));
	switch (p->mode) {
	case MODE_FETCH: {
		struct rumor_inv_entry e = { .kind = p->fetch_kind };
		struct rumor_msg m = { .type = RUMOR_MSG_GETDATA };

		memcpy(e.id, p->item_id, RUMOR_ID_SIZE);
		m.u.getdata.entries.entries = &e;
		m.u.getdata.entries.count = 1;
		send_msg(p, &m);
		print_id("sent getdata ", p->item_id);
		break;
	}
	case MODE_INVALID:
		send_inv(p, p->item_id);
		break;
	case MODE_UNREQUESTED:
		send_tx(p, p->item, p->item_len, p->item_id);
		p->item_sent = 1;
		break;
	case MODE_REANNOUNCE:
		send_inv(p, p->item_id);
		send_inv(p, p->item2_id);
		break;
	}
}

static void on_getdata(struct peer *p, const struct rumor_msg_list *list)
{
	char line[64 + 66 * 16];
	int has_item = 0, has_item2 = 0;
	size_t off;
	uint32_t i;

	off = (size_t)snprintf(line, sizeof(line), "recv getdata");
	for (i = 0; i < list->count; i++) {
		struct rumor_inv_entry e;

		rumor_msg_inv_entry(list, i, &e);
		if (memcmp(e.id, p->item_id, RUMOR_ID_SIZE) == 0)
			has_item = 1;
		if (p->item2 && memcmp(e.id, p->item2_id, RUMOR_ID_SIZE) == 0)
			has_item2 = 1;
		if (i < 16) {
			line[off++] = ' ';
			rumor_hex_encode(e.id, RUMOR_ID_SIZE, line + off);
			off += 2 * RUMOR_ID_SIZE;
		}
	}
	if (list->count > 16)
		snprintf(line + off, sizeof(line) - off, " (%u ids)", list->count);
	printf("%s\n", line);
	fflush(stdout);
	if (has_item)
		p->item_requested = 1;

	switch (p->mode) {
	case MODE_FETCH:
		break;
	case MODE_INVALID:
		if (has_item && !p->item_sent) {
			send_tx(p, p->item, p->item_len, p->item_id);
			p->item_sent = 1;
		}
		break;
	case MODE_UNREQUESTED:
		break;
	case MODE_REANNOUNCE:
		if (has_item2) {
			send_tx(p, p->item2, p->item2_len, p->item2_id);
			if (p->item_requested)
				finish(p, 0, "the node requested the rejected id again");
			else
				finish(p, 1, "the node requested only the new id");
		}
		break;
	}
}

static void on_closed(struct peer *p, const struct rumor_session_event *ev)
{
	if (ev->remote_initiated)
		printf("closed by node: %s (code %u)\n", ev->reason ? ev->reason : "", ev->code);
	else
		printf("closed: %s\n", ev->reason ? ev->reason : "");
	fflush(stdout);
	if (!ev->remote_initiated) /* else judged by on_node_gone() */
		finish(p, 0, "our session closed: %s", ev->reason ? ev->reason : "");
}

/* The node ended the connection (disconnect message, EOF or reset). */
static void on_node_gone(struct peer *p)
{
	switch (p->mode) {
	case MODE_INVALID:
		if (p->item_sent)
			finish(p, 1, "disconnected after the invalid item");
		else
			finish(p, 0, "disconnected before the node asked for the item");
		break;
	case MODE_UNREQUESTED:
		finish(p, 1, "disconnected after the unrequested item");
		break;
	case MODE_REANNOUNCE:
		finish(p, 0, "disconnected during the reannounce script");
		break;
	case MODE_FETCH:
		finish(p, 0, "disconnected before sending the item");
		break;
	}
}

/* fetch: the node's answer to our getdata. */
static void on_item(struct peer *p, const struct rumor_msg *m)
{
	const struct rumor_msg_blob *b = m->type == RUMOR_MSG_TX ? &m->u.tx.item : &m->u.block.item;
	uint8_t id[RUMOR_ID_SIZE];

	rumor_sha256(b->ptr, b->len, id);
	print_id("recv item ", id);
	if (p->mode != MODE_FETCH)
		return;
	if (b->len == p->item_len && memcmp(b->ptr, p->item, p->item_len) == 0 &&
	    (m->type == RUMOR_MSG_TX) == (p->fetch_kind == RUMOR_ITEM_TX))
		finish(p, 1, "the node sent the item (%zu bytes)", p->item_len);
	else
		finish(p, 0, "the node sent other bytes (%u, not %zu)", b->len, p->item_len);
}

static void handle_event(struct peer *p, const struct rumor_session_event *ev)
{
	switch (ev->type) {
	case RUMOR_SESSION_EV_NONE:
		break;
	case RUMOR_SESSION_EV_READY:
		on_ready(p);
		break;
	case RUMOR_SESSION_EV_MESSAGE:
		if (ev->msg->type == RUMOR_MSG_GETDATA) {
			on_getdata(p, &ev->msg->u.getdata.entries);
		} else if (ev->msg->type == RUMOR_MSG_TX || ev->msg->type == RUMOR_MSG_BLOCK) {
			on_item(p, ev->msg);
		} else {
			if (ev->msg->type == RUMOR_MSG_NOTFOUND && p->mode == MODE_FETCH)
				finish(p, 0, "the node answered notfound");
			const char *name = rumor_msg_type_name(ev->msg->type);

			printf("recv %s\n", name ? name : "unknown");
			fflush(stdout);
		}
		break;
	case RUMOR_SESSION_EV_CLOSED:
		on_closed(p, ev);
		if (ev->remote_initiated)
			on_node_gone(p);
		break;
	}
}

/* Writes what the session has queued; returns -1 when the socket failed. */
static int flush_output(struct peer *p)
{
	const uint8_t *data;
	size_t n;

	while ((n = rumor_session_output(p->session, &data)) > 0) {
		ssize_t w = send(p->fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		rumor_session_output_consumed(p->session, (size_t)w);
	}
	return 0;
}

static int dial(const char *host, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd, one = 1;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		setup_error("--connect: %s is not a numeric IPv4 address", host);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		setup_error("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		setup_error("connect %s:%d: %s", host, port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void parse_connect(const char *arg, struct rumor_session_config *cfg, char *host,
			  size_t hostcap, int *port)
{
	const char *at = strchr(arg, '@'), *hp = arg, *colon;
	size_t hlen;

	if (at) {
		if (at - arg != 64 || rumor_hex_decode(arg, 64, cfg->expected_id) != 32)
			setup_error("--connect: NODEID must be 64 hex characters");
		cfg->has_expected_id = 1;
		hp = at + 1;
	}
	colon = strrchr(hp, ':');
	if (!colon || colon == hp)
		setup_error("--connect: expected [NODEID@]HOST:PORT");
	hlen = (size_t)(colon - hp);
	if (hlen >= hostcap)
		setup_error("--connect: host too long");
	memcpy(host, hp, hlen);
	host[hlen] = '\0';
	*port = atoi(colon + 1);
	if (*port < 1 || *port > 65535)
		setup_error("--connect: bad port");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "network", required_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'm' },
		{ "item", required_argument, NULL, 'i' },
		{ "item2", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "kind", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char *connect_arg = NULL, *network_name = NULL, *mode_name = NULL;
	const char *item_hex = NULL, *item2_hex = NULL, *kind_name = NULL;
	double timeout_s = 20.0;
	struct rumor_network net;
	struct rumor_session_config cfg;
	struct peer p;
	uint8_t pub[32], secret[RUMOR_SECRET_SIZE];
	char host[64];
	int port, opt, node_gone = 0;
	uint64_t deadline, start;

	memset(&p, 0, sizeof(p));
	memset(&cfg, 0, sizeof(cfg));
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'c': connect_arg = optarg; break;
		case 'n': network_name = optarg; break;
		case 'm': mode_name = optarg; break;
		case 'i': item_hex = optarg; break;
		case 'j': item2_hex = optarg; break;
		case 't': timeout_s = atof(optarg); break;
		case 'k': kind_name = optarg; break;
		default: setup_error("unknown option (see the header of relay_peer.c)");
		}
	}
	if (!connect_arg || !network_name || !mode_name || !item_hex)
		setup_error("--connect, --network, --mode and --item are required");
	if (strcmp(mode_name, "invalid") == 0)
		p.mode = MODE_INVALID;
	else if (strcmp(mode_name, "unrequested") == 0)
		p.mode = MODE_UNREQUESTED;
	else if (strcmp(mode_name, "reannounce") == 0)
		p.mode = MODE_REANNOUNCE;
	else if (strcmp(mode_name, "fetch") == 0)
		p.mode = MODE_FETCH;
	else
		setup_error("--mode: invalid, unrequested, reannounce or fetch");
	p.fetch_kind = RUMOR_ITEM_TX;
	if (kind_name && strcmp(kind_name, "block") == 0)
		p.fetch_kind = RUMOR_ITEM_BLOCK;
	else if (kind_name && strcmp(kind_name, "tx") != 0)
		setup_error("--kind: tx or block");
	if (p.mode == MODE_REANNOUNCE && !item2_hex)
		setup_error("--mode=reannounce needs --item2");
	if (!(timeout_s > 0 && timeout_s <= 600))
		setup_error("--timeout: seconds in (0, 600]");
	if (rumor_crypto_init() != 0)
		setup_error("crypto init failed");
	if (rumor_network_init(&net, network_name) != 0)
		setup_error("--network: bad name");

	/* Items: ids are SHA-256 of the bytes as given, whatever they hold. */
	p.item = hex_arg("item", item_hex, &p.item_len);
	rumor_sha256(p.item, p.item_len, p.item_id);
	if (item2_hex) {
		p.item2 = hex_arg("item2", item2_hex, &p.item2_len);
		rumor_sha256(p.item2, p.item2_len, p.item2_id);
	}

	/* A fresh identity and fresh keys for this one connection. */
	rumor_sign_keypair_random(pub, secret);
	print_id("node_id ", pub);
	cfg.initiator = 1;
	cfg.network = &net;
	cfg.identity_secret = secret;
	rumor_random(cfg.noise_static_priv, sizeof(cfg.noise_static_priv));
	rumor_random(cfg.ephemeral_priv, sizeof(cfg.ephemeral_priv));
	rumor_random(&cfg.hello_nonce, sizeof(cfg.hello_nonce));
	cfg.wall_clock_offset_s = (int64_t)time(NULL) - (int64_t)(now_us() / 1000000u);
	rumor_session_limits_default(&cfg.limits);
	parse_connect(connect_arg, &cfg, host, sizeof(host), &port);

	p.fd = dial(host, port);
	start = now_us();
	deadline = start + (uint64_t)(timeout_s * 1e6);
	if (rumor_session_new(&p.session, &cfg, start) != 0)
		setup_error("rumor_session_new failed");

	while (!p.done) {
		struct pollfd pfd = { .fd = p.fd, .events = POLLIN };
		const uint8_t *pending;
		uint64_t now = now_us(), wake = deadline, exp;
		struct rumor_session_event ev;
		uint8_t buf[65536];
		ssize_t r;
		int wait_ms;

		if (flush_output(&p) < 0) {
			printf("reset\n");
			fflush(stdout);
			on_node_gone(&p);
			break;
		}
		if (p.done)
			break;
		if (now >= deadline) {
			finish(&p, 0, "timed out after %.0f s (item %s)", timeout_s,
			       p.item_requested ? "requested" : "never requested");
			break;
		}
		exp = rumor_session_expiry(p.session);
		if (exp < wake)
			wake = exp;
		if (rumor_session_output(p.session, &pending) > 0)
			pfd.events |= POLLOUT;
		wait_ms = wake > now ? (int)((wake - now + 999) / 1000) : 0;
		if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
			setup_error("poll: %s", strerror(errno));
		now = now_us();
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			r = recv(p.fd, buf, sizeof(buf), 0);
			if (r <= 0) {
				printf("%s\n", r == 0 ? "eof" : "reset");
				fflush(stdout);
				node_gone = 1;
				on_node_gone(&p);
				break;
			} else {
				size_t used = 0;

				for (;;) {
					size_t c = 0;

					rumor_session_recv(p.session, buf + used, (size_t)r - used, now,
							   &c, &ev);
					used += c;
					handle_event(&p, &ev);
					if (ev.type == RUMOR_SESSION_EV_NONE && used >= (size_t)r)
						break;
					if (ev.type == RUMOR_SESSION_EV_CLOSED)
						break;
				}
			}
		}
		if (rumor_session_state(p.session) == RUMOR_SESSION_CLOSED && !p.done) {
			node_gone = 1;
			finish(&p, 0, "session closed: %s",
			       rumor_session_close_reason(p.session) ? rumor_session_close_reason(p.session)
								     : "?");
		}
		if (!p.done && now_us() >= rumor_session_expiry(p.session)) {
			rumor_session_handle_expiry(p.session, now_us(), &ev);
			handle_event(&p, &ev);
		}
	}

	/* reannounce ends on our side: flush the payload, say goodbye. */
	if (!node_gone && rumor_session_state(p.session) == RUMOR_SESSION_READY) {
		uint64_t until = now_us() + 2000000u;
		const uint8_t *pending;

		rumor_session_close(p.session, RUMOR_DISCONNECT_SHUTDOWN, "test over");
		while (rumor_session_output(p.session, &pending) > 0 && now_us() < until) {
			struct pollfd pfd = { .fd = p.fd, .events = POLLOUT };

			if (flush_output(&p) < 0)
				break;
			poll(&pfd, 1, 50);
		}
	}
	printf("result %s%s%s\n", p.ok ? "ok" : "fail", p.why[0] ? ": " : "", p.why);
	fflush(stdout);
	close(p.fd);
	rumor_session_del(p.session);
	free(p.item);
	free(p.item2);
	return p.ok ? 0 : 1;
}
