/*
 * src/peers.c: see peers.h.  The shell around the connections: listening
 * and the inbound slots (handshake slots per network group, eviction,
 * discouraged addresses; the policy is net/evict.c's), carrying out the
 * core's DIALs (name lookup, connect), logging, and the view getpeerinfo
 * reads.  Every decision about ready peers (self and duplicate
 * connections, which targets to dial and when) is the core's
 * (net/core.h): this file reports READY, messages, closes and failed
 * dials to it.
 *
 * A connection (struct rumor_peer) lives from rumor_io_conn_init until io's
 * released callback, which unlinks and frees it (a safe point: no other
 * frame of that connection is on the stack).  An outbound one made for a
 * DIAL carries the core's target:
 *
 *   DIAL --> [RESOLVING --getaddrinfo-->] CONNECTING --connected-->
 *   HANDSHAKE --READY--> core peer_ready (handle) ... closed --> core
 *   peer_closed; ended before READY (lookup, connect or handshake failed)
 *   --> core dial_failed (the core redials with its backoff)
 *
 * Names are resolved on the resolver's own threads (src/resolver.h), so a
 * lookup that hangs never holds up shutdown.
 *
 * Shutdown (rumor_peers_close): listener and the resolver are closed
 * (lookups still running are cancelled and left to end on their own),
 * every connection gets disconnect(SHUTDOWN) and a bounded flush; when the
 * last handle is closed the manager frees itself and calls done.
 */
#include "config.h"

#include "src/peers.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypto/hex.h"
#include "crypto/sign.h"
#include "net/evict.h"
#include "src/conn.h"
#include "src/log.h"
#include "src/resolver.h"

/* Node ids of the core's dial targets (the operator's peers), so that an
 * inbound connection from one of them (kept over ours by the
 * simultaneous-dial rule) is never evicted: from the NODEID@ of a DIAL, or
 * learnt when a dial's handshake proves the id; dropped when the target
 * is removed. */
#define MANUAL_IDS_MAX 512

struct manual_id {
	rumor_core_target target;
	uint8_t id[32];
};

/* A name being resolved for a DIAL of the core. */
struct lookup {
	struct rumor_peers *peers;
	struct lookup *next; /* peers->lookups */
	rumor_core_target target;
	struct rumor_core_addr addr;
	char label[RUMOR_CORE_HOST_MAX + 16];
	struct rumor_lookup *lookup;
};

struct rumor_peer {
	struct rumor_io_conn conn; /* conn.data points back here */
	int counted;       /* its wire bytes are in peers->closed_totals */
	struct rumor_peers *peers;
	int inbound;
	rumor_core_target target; /* outbound: the core's dial target */
	int has_expected;  /* outbound to NODEID@HOST:PORT */
	uint8_t expected_id[32];
	char label[RUMOR_CORE_HOST_MAX + 16]; /* outbound: HOST:PORT as configured */
	rumor_core_peer handle; /* the core's, from READY until closed */
	int session_ready; /* the session reached READY (id and transport proven) */
	int ready;         /* ... and the core keeps it (not self, duplicate, ...) */
	char ip[48];
	uint8_t addr16[16];  /* ip as IPv6 (IPv4 mapped) */
	int addr_ok;         /* addr16 parsed from ip */
	char netgroup_text[48];
	uint64_t netgroup;   /* rumor_netgroup(addr16): inbound slot rules */
	int discouraged;     /* inbound from a discouraged address */
	uint64_t serial;     /* eviction tie-break input */
	uint64_t ready_mono_us; /* when it became ready (monotonic) */
	uint8_t id[32];
	int64_t since_us;
	struct rumor_peer *prev, *next;
};

struct rumor_peers {
	uv_loop_t *loop;
	struct rumor_peers_config cfg;
	struct lookup *lookups;
	uv_tcp_t listener;
	int listener_open; /* handle initialised and not yet closed */
	int listen_port;
	uint8_t noise_static[32];
	int64_t wall_clock_offset_s;
	struct rumor_peer *head, *tail;
	size_t n_peers, n_inbound;
	uint64_t next_serial;
	uint8_t evict_key[16];            /* secret: eviction tie-breaks */
	struct rumor_discourage discouraged;
	struct rumor_peers_inbound_stats inbound_stats; /* counters only */
	struct manual_id manual[MANUAL_IDS_MAX];
	size_t n_manual;
	/* Wire bytes of connections that are over (getrelayinfo totals). */
	struct rumor_session_stats closed_totals;
	struct rumor_resolver *resolver; /* made at the first name to resolve */
	int resolver_open;               /* until its handle is closed */
	int closing;
	void (*done)(void *arg);
	void *done_arg;
};

static const struct rumor_io_handler io_handler;

static int64_t wall_clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void id_hex(const uint8_t *id, char out[65])
{
	if (id)
		rumor_hex_encode(id, 32, out);
	else
		snprintf(out, 65, "-");
}

static void manual_remember(struct rumor_peers *peers, rumor_core_target target,
			    const uint8_t id[32])
{
	if (target == RUMOR_CORE_NO_TARGET)
		return;
	for (size_t i = 0; i < peers->n_manual; i++) {
		if (peers->manual[i].target == target) {
			memcpy(peers->manual[i].id, id, 32);
			return;
		}
	}
	if (peers->n_manual == MANUAL_IDS_MAX) { /* the oldest goes */
		memmove(peers->manual, peers->manual + 1,
			(MANUAL_IDS_MAX - 1) * sizeof(peers->manual[0]));
		peers->n_manual--;
	}
	peers->manual[peers->n_manual].target = target;
	memcpy(peers->manual[peers->n_manual].id, id, 32);
	peers->n_manual++;
}

static void manual_forget(struct rumor_peers *peers, rumor_core_target target)
{
	for (size_t i = 0; i < peers->n_manual; i++) {
		if (peers->manual[i].target == target) {
			memmove(peers->manual + i, peers->manual + i + 1,
				(peers->n_manual - i - 1) * sizeof(peers->manual[0]));
			peers->n_manual--;
			return;
		}
	}
}

static int manual_has(const struct rumor_peers *peers, const uint8_t id[32])
{
	for (size_t i = 0; i < peers->n_manual; i++)
		if (memcmp(peers->manual[i].id, id, 32) == 0)
			return 1;
	return 0;
}

/* ---- configuration --------------------------------------------------- */

void rumor_peers_config_default(struct rumor_peers_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "0.0.0.0");
	cfg->max_inbound = 64;
	cfg->max_handshakes = 16;
	cfg->max_handshakes_per_netgroup = 4;
	cfg->inbound_handshake_timeout_us = RUMOR_PEERS_INBOUND_HANDSHAKE_US;
	cfg->discourage_us = RUMOR_PEERS_DISCOURAGE_US;
	cfg->discourage_max = RUMOR_PEERS_DISCOURAGE_MAX;
	rumor_session_limits_default(&cfg->limits);
}

void rumor_peers_config_from_options(struct rumor_peers_config *cfg,
				     const struct rumor_config *opts)
{
	rumor_peers_config_default(cfg);
	cfg->listen = opts->listen;
	cfg->listen_required = opts->listen_given;
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "%s", opts->listen_host);
	cfg->listen_port = opts->listen_port;
	cfg->has_psk = opts->has_psk;
	memcpy(cfg->psk, opts->psk, sizeof(cfg->psk));
	cfg->max_inbound = opts->max_inbound;
	cfg->max_handshakes = opts->max_handshakes;
	cfg->max_handshakes_per_netgroup = opts->max_handshakes_per_netgroup;
	cfg->loopback_netgroups = opts->loopback_netgroups;
}

/* ---- the connection list and shutdown -------------------------------- */

static void maybe_done(struct rumor_peers *peers)
{
	if (!peers->closing || peers->listener_open || peers->resolver_open || peers->n_peers)
		return;
	void (*done)(void *) = peers->done;
	void *arg = peers->done_arg;
	sodium_memzero(peers->noise_static, sizeof(peers->noise_static));
	sodium_memzero(peers->cfg.psk, sizeof(peers->cfg.psk));
	sodium_memzero(peers->evict_key, sizeof(peers->evict_key));
	rumor_discourage_free(&peers->discouraged);
	free(peers);
	if (done)
		done(arg);
}

static struct rumor_peer *peer_new(struct rumor_peers *peers, int inbound)
{
	struct rumor_peer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	int rc = rumor_io_conn_init(&p->conn, peers->loop, &io_handler, p);
	if (rc != 0) { /* nothing is open */
		log_error("p2p: cannot create a connection: %s", uv_strerror(rc));
		free(p);
		return NULL;
	}
	p->peers = peers;
	p->inbound = inbound;
	p->target = RUMOR_CORE_NO_TARGET;
	p->handle = RUMOR_CORE_NO_PEER;
	p->serial = ++peers->next_serial;
	p->prev = peers->tail;
	if (peers->tail)
		peers->tail->next = p;
	else
		peers->head = p;
	peers->tail = p;
	peers->n_peers++;
	if (inbound)
		peers->n_inbound++;
	return p;
}

static void fill_session_config(struct rumor_peers *peers, struct rumor_session_config *sc,
				int initiator, const struct rumor_peer *p)
{
	memset(sc, 0, sizeof(*sc));
	sc->initiator = initiator;
	sc->network = peers->cfg.network;
	sc->identity_secret = peers->cfg.identity_secret;
	memcpy(sc->noise_static_priv, peers->noise_static, 32);
	rumor_random(sc->ephemeral_priv, sizeof(sc->ephemeral_priv));
	sc->has_psk = peers->cfg.has_psk;
	if (sc->has_psk)
		memcpy(sc->psk, peers->cfg.psk, 32);
	if (!p->inbound && p->has_expected) {
		sc->has_expected_id = 1;
		memcpy(sc->expected_id, p->expected_id, 32);
	}
	sc->services = 0;
	sc->best_height = peers->cfg.best_height;
	sc->listen_port = (uint16_t)peers->listen_port;
	sc->hello_nonce = peers->cfg.hello_nonce;
	sc->wall_clock_offset_s = peers->wall_clock_offset_s;
	sc->limits = peers->cfg.limits;
	/* An inbound handshake holds one of few slots: it gets little time. */
	if (p->inbound && peers->cfg.inbound_handshake_timeout_us &&
	    peers->cfg.inbound_handshake_timeout_us < sc->limits.handshake_timeout_us)
		sc->limits.handshake_timeout_us = peers->cfg.inbound_handshake_timeout_us;
}

static void start_session(struct rumor_peer *p, int initiator)
{
	struct rumor_session_config sc;
	fill_session_config(p->peers, &sc, initiator, p);
	int rc = rumor_io_conn_start(&p->conn, &sc);
	sodium_memzero(&sc, sizeof(sc));
	if (rc != 0)
		log_error("p2p: cannot start a session with %s: %s", rumor_io_conn_addr(&p->conn),
			  uv_strerror(rc));
}

static void stats_add(struct rumor_session_stats *sum, const struct rumor_session_stats *st)
{
	sum->bytes_sent += st->bytes_sent;
	sum->bytes_recv += st->bytes_recv;
	sum->msgs_sent += st->msgs_sent;
	sum->msgs_recv += st->msgs_recv;
	for (size_t i = 0; i < RUMOR_SESSION_STAT_SLOTS; i++) {
		sum->sent_by_type[i] += st->sent_by_type[i];
		sum->recv_by_type[i] += st->recv_by_type[i];
	}
}

/* ---- time, for the core ------------------------------------------- */

static uint64_t mono_us(void)
{
	return uv_hrtime() / 1000;
}

static void kick(struct rumor_peers *peers)
{
	if (peers->cfg.kick)
		peers->cfg.kick(peers->cfg.hook_arg);
}

/* ---- dialling (the core's DIAL actions) ------------------------------ */

static void dial_failed(struct rumor_peers *peers, rumor_core_target target, uint16_t code)
{
	if (peers->cfg.core && !peers->closing) {
		rumor_core_dial_failed(peers->cfg.core, target, code, mono_us());
		kick(peers);
	}
}

static void dial_connect(struct rumor_peers *peers, rumor_core_target target,
			 const struct rumor_core_addr *addr, const char *label,
			 const struct sockaddr *sa)
{
	struct rumor_peer *p = peer_new(peers, 0);
	if (!p) {
		dial_failed(peers, target, 0);
		return;
	}
	p->target = target;
	p->has_expected = addr->has_id;
	memcpy(p->expected_id, addr->id, 32);
	snprintf(p->label, sizeof(p->label), "%s", label);
	log_debug("p2p: connecting to %s", label);
	int rc = rumor_io_conn_connect(&p->conn, sa);
	if (rc != 0) /* released runs and reports the failure */
		log_info("p2p: cannot connect to %s: %s", label, uv_strerror(rc));
}

static void lookup_unlink(struct lookup *l)
{
	for (struct lookup **pp = &l->peers->lookups; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
}

/* Not called for a lookup that was cancelled (shutdown). */
static void on_resolved(void *arg, int status, struct addrinfo *res)
{
	struct lookup *l = arg;
	struct rumor_peers *peers = l->peers;
	lookup_unlink(l);
	if (status != 0 || !res) {
		log_info("p2p: cannot resolve %s: %s", l->addr.host,
			 status != 0 ? rumor_lookup_strerror(status) : "no address");
		if (res)
			freeaddrinfo(res);
		dial_failed(peers, l->target, 0);
		free(l);
		return;
	}
	dial_connect(peers, l->target, &l->addr, l->label, res->ai_addr);
	freeaddrinfo(res);
	free(l);
}

static void on_resolver_closed(void *arg)
{
	struct rumor_peers *peers = arg;
	peers->resolver_open = 0;
	maybe_done(peers);
}

void rumor_peers_dial(struct rumor_peers *peers, rumor_core_target target,
		      const struct rumor_core_addr *addr)
{
	if (peers->closing)
		return;
	if (addr->has_id)
		manual_remember(peers, target, addr->id);
	char label[RUMOR_CORE_HOST_MAX + 16];
	int v6 = strchr(addr->host, ':') != NULL;
	snprintf(label, sizeof(label), "%s%s%s:%u", v6 ? "[" : "", addr->host, v6 ? "]" : "",
		 (unsigned)addr->port);
	struct sockaddr_storage ss;
	if (uv_ip4_addr(addr->host, addr->port, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(addr->host, addr->port, (struct sockaddr_in6 *)&ss) == 0) {
		dial_connect(peers, target, addr, label, (struct sockaddr *)&ss);
		return;
	}
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)addr->port);
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	struct lookup *l = calloc(1, sizeof(*l));
	int rc = l ? 0 : UV_ENOMEM;
	if (rc == 0 && !peers->resolver) {
		rc = rumor_resolver_new(&peers->resolver, peers->loop, peers->cfg.getaddrinfo);
		peers->resolver_open = rc == 0;
	}
	if (rc == 0) {
		l->peers = peers;
		l->target = target;
		l->addr = *addr;
		snprintf(l->label, sizeof(l->label), "%s", label);
		rc = rumor_resolver_lookup(peers->resolver, &l->lookup, addr->host, port, &hints,
					   on_resolved, l);
	}
	if (rc != 0) {
		free(l);
		log_info("p2p: cannot resolve %s: %s", addr->host, uv_strerror(rc));
		dial_failed(peers, target, 0);
		return;
	}
	l->next = peers->lookups;
	peers->lookups = l;
}

void rumor_peers_cancel_dial(struct rumor_peers *peers, rumor_core_target target)
{
	if (target == RUMOR_CORE_NO_TARGET)
		return;
	manual_forget(peers, target);
	struct lookup **pp = &peers->lookups;
	while (*pp) {
		struct lookup *l = *pp;
		if (l->target != target) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		rumor_lookup_cancel(l->lookup); /* on_resolved will not run */
		free(l);
	}
	for (struct rumor_peer *p = peers->head; p; p = p->next) {
		if (p->inbound || p->target != target || p->handle != RUMOR_CORE_NO_PEER)
			continue;
		p->target = RUMOR_CORE_NO_TARGET;
		rumor_io_conn_close(&p->conn, RUMOR_DISCONNECT_REQUESTED,
				    "peer removed by the operator (addnode remove)");
	}
}

/* ---- io callbacks ---------------------------------------------------- */

static void on_connected(struct rumor_io_conn *c, int status)
{
	struct rumor_peer *p = c->data;
	if (status < 0) {
		log_info("p2p: cannot connect to %s: %s", p->label, uv_strerror(status));
		return; /* released follows and reports the failure */
	}
	start_session(p, 1);
}

/* ---- inbound slots ---------------------------------------------------- */

/* Inbound slot events (evictions, refusals after the handshake,
 * discouragement): at info at most once a second, the others at debug, so
 * a party that keeps completing handshakes or breaking rules cannot flood
 * the log (getinfo's "inbound" counts them all). */
static enum rumor_log_level slot_log_level(void)
{
	static struct rumor_log_ratelimit limit = {.interval_ms = 1000};
	uint64_t left_out = 0;
	return rumor_log_ratelimit(&limit, &left_out) ? RUMOR_LOG_INFO : RUMOR_LOG_DEBUG;
}

/* Returns 1 when ip parsed (else out is all zero). */
static int addr16_of(const char *ip, uint8_t out[16])
{
	struct in_addr v4;
	memset(out, 0, 16);
	if (inet_pton(AF_INET, ip, &v4) == 1) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &v4, 4);
		return 1;
	}
	if (inet_pton(AF_INET6, ip, out) == 1)
		return 1;
	memset(out, 0, 16);
	return 0;
}

static size_t ready_inbound(const struct rumor_peers *peers)
{
	size_t n = 0;
	for (const struct rumor_peer *q = peers->head; q; q = q->next)
		n += q->ready && q->inbound;
	return n;
}

/* The ready peer to evict for a newcomer (net/evict.h), or NULL. */
static struct rumor_peer *choose_victim(struct rumor_peers *peers)
{
	size_t n = 0;
	for (struct rumor_peer *q = peers->head; q; q = q->next)
		n += q->ready;
	if (n == 0)
		return NULL;
	struct rumor_evict_candidate *c = calloc(n, sizeof(*c));
	struct rumor_peer **who = calloc(n, sizeof(*who));
	struct rumor_peer *victim = NULL;
	if (c && who) {
		size_t i = 0;
		for (struct rumor_peer *q = peers->head; q; q = q->next) {
			if (!q->ready)
				continue;
			const struct rumor_session *s = rumor_io_conn_session_const(&q->conn);
			who[i] = q;
			c[i].id = q->serial;
			c[i].inbound = q->inbound;
			/* every outbound peer is a dial target; an inbound one may
			 * be too (simultaneous dials keep one connection) */
			c[i].manual = !q->inbound || manual_has(peers, q->id);
			c[i].discouraged = q->discouraged;
			c[i].netgroup = q->netgroup;
			c[i].connected_us = q->ready_mono_us;
			c[i].ping_us = s ? rumor_session_stats(s)->ping_us : -1;
			if (peers->cfg.core)
				(void)rumor_core_peer_last_new(peers->cfg.core, q->handle,
							       &c[i].last_tx_us, &c[i].last_block_us);
			i++;
		}
		size_t v;
		if (rumor_evict_select(c, n, peers->evict_key, &v) == 0)
			victim = who[v];
	} else {
		log_warn("p2p: out of memory choosing an inbound peer to evict");
	}
	free(c);
	free(who);
	return victim;
}

static void on_ready(struct rumor_io_conn *c)
{
	struct rumor_peer *p = c->data;
	struct rumor_peers *peers = p->peers;
	const struct rumor_session *s = rumor_io_conn_session_const(c);
	const uint8_t *id = rumor_session_remote_id(s);
	const struct rumor_msg_hello *hello = rumor_session_remote_hello(s);
	assert(id && hello);
	p->session_ready = 1;
	memcpy(p->id, id, 32);
	if (!p->inbound) { /* inbound ones have theirs from accept */
		manual_remember(peers, p->target, id);
		rumor_io_conn_ip(c, p->ip, sizeof(p->ip));
		p->addr_ok = addr16_of(p->ip, p->addr16);
		p->netgroup = rumor_netgroup(p->addr16, peers->cfg.loopback_netgroups);
		rumor_netgroup_format(p->netgroup, p->netgroup_text, sizeof(p->netgroup_text));
	}
	if (peers->closing || !peers->cfg.core) {
		rumor_io_conn_close(c, RUMOR_DISCONNECT_SHUTDOWN, "node is shutting down");
		return;
	}
	/* Inbound slots full: a newcomer takes the slot of the peer the
	 * eviction rules choose; a discouraged newcomer, or one for whom no
	 * peer may be evicted, is turned away (before the core hears of it). */
	struct rumor_peer *victim = NULL;
	size_t in_slots = p->inbound ? ready_inbound(peers) : 0;
	if (p->inbound && in_slots >= peers->cfg.max_inbound) {
		char hex[65];
		id_hex(id, hex);
		if (p->discouraged) {
			peers->inbound_stats.refused_discouraged++;
			rumor_log(slot_log_level(),
				  "p2p: refusing %s %s: inbound slots full (%zu) and its address is "
				  "discouraged (it broke a protocol rule)",
				  hex, rumor_io_conn_addr(c), in_slots);
			rumor_io_conn_close(c, RUMOR_DISCONNECT_TOO_MANY,
					    "inbound slots full (address discouraged)");
			return;
		}
		victim = choose_victim(peers);
		if (!victim) {
			peers->inbound_stats.refused_full++;
			rumor_log(slot_log_level(),
				  "p2p: refusing %s %s: inbound slots full (%zu) and every inbound "
				  "peer is protected from eviction",
				  hex, rumor_io_conn_addr(c), in_slots);
			rumor_io_conn_close(c, RUMOR_DISCONNECT_TOO_MANY,
					    "inbound slots full, no peer to evict");
			return;
		}
	}
	/* The node-wide rules (self, duplicate, limits) are the core's: it
	 * answers with CLOSE actions, carried out at the end of the turn. */
	struct rumor_core_peer_info info;
	memset(&info, 0, sizeof(info));
	memcpy(info.node_id, id, 32);
	info.hello_nonce = hello->nonce;
	info.outbound = !p->inbound;
	info.target = p->inbound ? RUMOR_CORE_NO_TARGET : p->target;
	info.addr = rumor_io_conn_addr(c);
	p->handle = rumor_core_peer_ready(peers->cfg.core, &info, p, mono_us());
	kick(peers);
	if (p->handle == RUMOR_CORE_NO_PEER) {
		rumor_io_conn_close(c, RUMOR_DISCONNECT_TOO_MANY, "too many peers");
		return;
	}
	if (rumor_core_peer_is_closing(peers->cfg.core, p->handle))
		return; /* its CLOSE comes with the core's actions */
	p->ready = 1;
	p->since_us = wall_clock_us();
	p->ready_mono_us = mono_us();
	char hex[65];
	id_hex(id, hex);
	if (victim && victim->ready) {
		char vhex[65], group[48];
		size_t same = 0;
		for (const struct rumor_peer *q = peers->head; q; q = q->next)
			same += q->ready && q->inbound && q != p && q->netgroup == victim->netgroup;
		id_hex(victim->id, vhex);
		rumor_netgroup_format(victim->netgroup, group, sizeof(group));
		peers->inbound_stats.evicted++;
		rumor_log(slot_log_level(),
			  "p2p: evicting %s %s%s (network group %s, %zu inbound peers) to make room "
			  "for %s %s",
			  vhex, rumor_io_conn_addr(&victim->conn),
			  victim->discouraged ? ", discouraged address" : "", group, same, hex,
			  rumor_io_conn_addr(c));
		rumor_io_conn_close(&victim->conn, RUMOR_DISCONNECT_TOO_MANY,
				    "evicted: inbound slots full");
	}
	log_info("peer connected: %s %s %s", hex, rumor_io_conn_addr(c),
		 p->inbound ? "inbound" : "outbound");
	if (peers->cfg.on_ready)
		peers->cfg.on_ready(peers->cfg.hook_arg, p);
}

static int64_t wall_now_us(void)
{
	return wall_clock_us();
}

static void on_message(struct rumor_io_conn *c, const struct rumor_msg *msg)
{
	struct rumor_peer *p = c->data;
	struct rumor_peers *peers = p->peers;
	if (!p->ready)
		return; /* closing */
	if (peers->cfg.core) {
		rumor_core_on_message(peers->cfg.core, p->handle, msg, mono_us(), wall_now_us());
		kick(peers);
	}
	if (peers->cfg.on_message)
		peers->cfg.on_message(peers->cfg.hook_arg, p, msg);
}

/* A handshake that failed because the peer is on another network or uses
 * another PSK: a configuration mistake the operator must see (warn), but a
 * peer redialled every few seconds, or a scanner, must not flood the log:
 * at most one line a minute, with the count of those left out. */
static void log_handshake_mismatch(const struct rumor_session *session, const char *addr)
{
	static struct rumor_log_ratelimit limit = {.interval_ms = 60000};
	uint64_t left_out = 0;
	if (!session || !rumor_session_handshake_mismatch(session) ||
	    !rumor_log_ratelimit(&limit, &left_out))
		return;
	if (left_out)
		log_warn("p2p: handshake with %s failed: the peer uses a different network or PSK "
			 "(check --network and --network-psk on both nodes; %llu more such "
			 "failures since the last line)",
			 addr, (unsigned long long)left_out);
	else
		log_warn("p2p: handshake with %s failed: the peer uses a different network or PSK "
			 "(check --network and --network-psk on both nodes)",
			 addr);
}

/* The session says "peer proved node id X, expected node id Y". */
static int log_id_mismatch(struct rumor_peer *p, const char *reason)
{
	char got[65], want[65];
	if (p->inbound || !p->has_expected ||
	    sscanf(reason, "peer proved node id %64[0-9a-f], expected", got) != 1 ||
	    strlen(got) != 64)
		return 0;
	id_hex(p->expected_id, want);
	log_warn("peer at %s proved node id %s, expected %s", p->label, got, want);
	return 1;
}

static void on_closed(struct rumor_io_conn *c, const char *reason, uint16_t code, int remote)
{
	struct rumor_peer *p = c->data;
	struct rumor_peers *peers = p->peers;
	int was_ready = p->ready;
	const struct rumor_session *session = rumor_io_conn_session_const(c);
	if (session && !p->counted) {
		stats_add(&peers->closed_totals, rumor_session_stats(session));
		p->counted = 1;
	}
	/* An id is shown only once the whole handshake is known to have
	 * succeeded (hello received): with a wrong PSK the dialer has already
	 * read the responder's id when the responder rejects message 3. */
	const uint8_t *id = p->session_ready ? p->id : NULL;
	p->ready = 0;
	/* We closed it for breaking a rule: its address is discouraged. */
	if (!remote && (code == RUMOR_DISCONNECT_MISBEHAVIOUR ||
			(code == RUMOR_DISCONNECT_PROTOCOL && p->session_ready)) &&
	    p->addr_ok) {
		rumor_discourage_add(&peers->discouraged, p->addr16, mono_us());
		rumor_log(slot_log_level(), "p2p: discouraging %s for %llu s: %s", p->ip,
			  (unsigned long long)(peers->cfg.discourage_us / 1000000), reason);
	}
	log_id_mismatch(p, reason);
	char hex[65];
	id_hex(id, hex);
	log_info("peer disconnected: %s %s: %s%s", hex, rumor_io_conn_addr(c), reason,
		 remote ? " (by the peer)" : "");
	log_handshake_mismatch(session, rumor_io_conn_addr(c));
	if (p->handle != RUMOR_CORE_NO_PEER) {
		rumor_core_peer handle = p->handle;
		p->handle = RUMOR_CORE_NO_PEER;
		p->target = RUMOR_CORE_NO_TARGET; /* the core redials it */
		rumor_core_peer_closed(peers->cfg.core, handle, code, mono_us());
		kick(peers);
	} else if (!p->inbound && p->target != RUMOR_CORE_NO_TARGET) {
		rumor_core_target target = p->target;
		p->target = RUMOR_CORE_NO_TARGET;
		dial_failed(peers, target, code);
	}
	if (peers->cfg.on_closed)
		peers->cfg.on_closed(peers->cfg.hook_arg, p, was_ready, reason);
}

static void on_released(struct rumor_io_conn *c)
{
	struct rumor_peer *p = c->data;
	struct rumor_peers *peers = p->peers;
	if (p->prev)
		p->prev->next = p->next;
	else
		peers->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		peers->tail = p->prev;
	peers->n_peers--;
	if (p->inbound)
		peers->n_inbound--;
	/* A dial that ended without the closed callback (connect failed). */
	if (!p->inbound && p->target != RUMOR_CORE_NO_TARGET)
		dial_failed(peers, p->target, 0);
	free(p);
	maybe_done(peers);
}

/* A write completed: the core paces getdata serving by the queue. */
static void on_output(struct rumor_io_conn *c, size_t queued)
{
	struct rumor_peer *p = c->data;
	struct rumor_peers *peers = p->peers;
	if (!p->ready || !peers->cfg.core)
		return;
	rumor_core_peer_output(peers->cfg.core, p->handle, queued, mono_us());
	kick(peers);
}

static const struct rumor_io_handler io_handler = {
	.connected = on_connected,
	.ready = on_ready,
	.message = on_message,
	.closed = on_closed,
	.released = on_released,
	.output = on_output,
};

/* ---- listening ------------------------------------------------------- */

static void on_inbound(uv_stream_t *server, int status)
{
	struct rumor_peers *peers = server->data;
	if (status < 0) {
		log_warn("p2p: accept failed: %s", uv_strerror(status));
		return;
	}
	struct rumor_peer *p = peer_new(peers, 1);
	if (!p)
		return;
	if (rumor_io_conn_accept(&p->conn, server) != 0)
		return; /* closing; released frees it */
	rumor_io_conn_ip(&p->conn, p->ip, sizeof(p->ip));
	p->addr_ok = addr16_of(p->ip, p->addr16);
	p->netgroup = rumor_netgroup(p->addr16, peers->cfg.loopback_netgroups);
	rumor_netgroup_format(p->netgroup, p->netgroup_text, sizeof(p->netgroup_text));
	p->discouraged = rumor_discourage_check(&peers->discouraged, p->addr16, mono_us());
	/* Limits first, before any handshake work.  Handshakes (connections
	 * not yet past it, closing ones included) have slots of their own, in
	 * all and per network group; peers past it are counted at READY. */
	size_t handshakes = 0, same_group = 0;
	for (struct rumor_peer *q = peers->head; q; q = q->next) {
		if (q == p || !q->inbound || q->session_ready)
			continue;
		handshakes++;
		same_group += q->netgroup == p->netgroup;
	}
	char why[160];
	const char *refuse = NULL;
	if (peers->closing) {
		refuse = "node is shutting down";
	} else if (peers->cfg.max_inbound == 0) {
		refuse = "not accepting inbound peers (--maxinbound=0)";
	} else if (handshakes >= peers->cfg.max_handshakes) {
		snprintf(why, sizeof(why), "too many inbound handshakes at once (%zu)", handshakes);
		refuse = why;
	} else if (same_group >= peers->cfg.max_handshakes_per_netgroup) {
		char group[48];
		rumor_netgroup_format(p->netgroup, group, sizeof(group));
		snprintf(why, sizeof(why), "too many handshakes from network group %s (%zu)", group,
			 same_group);
		refuse = why;
	} else if (p->discouraged && ready_inbound(peers) >= peers->cfg.max_inbound) {
		refuse = "inbound slots full and the address is discouraged";
	}
	if (refuse) {
		peers->inbound_stats.refused_at_accept++;
		/* one line per refusal would let a flood fill the log */
		static struct rumor_log_ratelimit limit = {.interval_ms = 10000};
		uint64_t left_out = 0;
		if (rumor_log_ratelimit(&limit, &left_out))
			log_info("p2p: refusing %s: %s (%llu more refused since the last line)",
				 rumor_io_conn_addr(&p->conn), refuse, (unsigned long long)left_out);
		else
			log_debug("p2p: refusing %s: %s", rumor_io_conn_addr(&p->conn), refuse);
		rumor_io_conn_abort(&p->conn, refuse);
		return;
	}
	if (p->discouraged)
		rumor_log(slot_log_level(),
			  "p2p: accepting %s from a discouraged address: slots are free; it is the "
			  "first evicted", rumor_io_conn_addr(&p->conn));
	start_session(p, 0);
}

static void on_listener_closed(uv_handle_t *handle)
{
	struct rumor_peers *peers = handle->data;
	peers->listener_open = 0;
	maybe_done(peers);
}

/* Returns 0, or a UV error with what failed in *what. */
static int listen_on(struct rumor_peers *peers, const char **what)
{
	struct sockaddr_storage ss;
	const char *host = peers->cfg.listen_host;
	int port = peers->cfg.listen_port;
	*what = "address";
	int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
	if (rc != 0)
		rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
	if (rc != 0)
		return rc;
	*what = "socket";
	rc = uv_tcp_init(peers->loop, &peers->listener);
	if (rc != 0)
		return rc;
	peers->listener.data = peers;
	peers->listener_open = 1;
	*what = "bind";
	rc = uv_tcp_bind(&peers->listener, (struct sockaddr *)&ss, 0);
	if (rc == 0) {
		*what = "listen";
		rc = uv_listen((uv_stream_t *)&peers->listener, 128, on_inbound);
	}
	if (rc == 0) {
		struct sockaddr_storage bound;
		int len = (int)sizeof(bound);
		*what = "getsockname";
		rc = uv_tcp_getsockname(&peers->listener, (struct sockaddr *)&bound, &len);
		if (rc == 0)
			peers->listen_port = bound.ss_family == AF_INET6
						     ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
						     : ntohs(((struct sockaddr_in *)&bound)->sin_port);
	}
	if (rc != 0)
		uv_close((uv_handle_t *)&peers->listener, on_listener_closed);
	return rc;
}

/* ---- start and stop -------------------------------------------------- */

int rumor_peers_start(struct rumor_peers **out, uv_loop_t *loop,
		      const struct rumor_peers_config *cfg, char *err, size_t errlen)
{
	*out = NULL;
	assert(cfg->network && cfg->identity_secret);
	struct rumor_peers *peers = calloc(1, sizeof(*peers));
	if (!peers) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	peers->loop = loop;
	peers->cfg = *cfg;
	if (rumor_discourage_init(&peers->discouraged,
				  cfg->discourage_max ? cfg->discourage_max : 1,
				  cfg->discourage_us) != 0) {
		free(peers);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rumor_random(peers->noise_static, sizeof(peers->noise_static));
	rumor_random(peers->evict_key, sizeof(peers->evict_key));
	peers->wall_clock_offset_s = wall_clock_us() / 1000000 - (int64_t)(uv_hrtime() / 1000000000u);

	if (cfg->listen) {
		const char *what;
		int rc = listen_on(peers, &what);
		const char *h = cfg->listen_host;
		int v6 = strchr(h, ':') != NULL;
		if (rc != 0 && cfg->listen_required) {
			snprintf(err, errlen, "cannot listen for peers on %s%s%s:%d: %s: %s",
				 v6 ? "[" : "", h, v6 ? "]" : "", cfg->listen_port, what,
				 uv_strerror(rc));
			if (peers->listener_open) { /* let the handle close */
				while (peers->listener_open)
					uv_run(loop, UV_RUN_ONCE);
			}
			rumor_discourage_free(&peers->discouraged);
			free(peers);
			return -1;
		}
		if (rc != 0) {
			log_warn("p2p: cannot listen on %s%s%s:%d (%s: %s); not accepting peers "
				 "(use --listen=HOST:PORT or --nolisten)",
				 v6 ? "[" : "", h, v6 ? "]" : "", cfg->listen_port, what,
				 uv_strerror(rc));
			log_notice("p2p: not listening");
		} else {
			log_notice("p2p: listening on %s%s%s:%d", v6 ? "[" : "", h, v6 ? "]" : "",
				   peers->listen_port);
		}
	} else {
		log_notice("p2p: not listening");
	}

	*out = peers;
	return 0;
}

void rumor_peers_close(struct rumor_peers *peers, void (*done)(void *arg), void *arg)
{
	assert(!peers->closing);
	peers->closing = 1;
	peers->done = done;
	peers->done_arg = arg;
	if (peers->listener_open && !uv_is_closing((uv_handle_t *)&peers->listener))
		uv_close((uv_handle_t *)&peers->listener, on_listener_closed);
	while (peers->lookups) { /* on_resolved will not run */
		struct lookup *l = peers->lookups;
		peers->lookups = l->next;
		rumor_lookup_cancel(l->lookup);
		free(l);
	}
	if (peers->resolver) {
		size_t running = rumor_resolver_running(peers->resolver);
		if (running)
			log_info("p2p: not waiting for %zu name lookup%s still running", running,
				 running == 1 ? "" : "s");
		rumor_resolver_close(peers->resolver, on_resolver_closed, peers);
		peers->resolver = NULL;
	}
	for (struct rumor_peer *p = peers->head; p; p = p->next)
		rumor_io_conn_close(&p->conn, RUMOR_DISCONNECT_SHUTDOWN, "node is shutting down");
	maybe_done(peers);
}

/* ---- queries --------------------------------------------------------- */

int rumor_peers_listen_port(const struct rumor_peers *peers)
{
	return peers->listen_port;
}

size_t rumor_peers_ready_count(const struct rumor_peers *peers)
{
	size_t n = 0;
	for (const struct rumor_peer *p = peers->head; p; p = p->next)
		n += p->ready ? 1 : 0;
	return n;
}

void rumor_peers_foreach(struct rumor_peers *peers,
			 void (*fn)(void *arg, const struct rumor_peer_info *info), void *arg)
{
	for (struct rumor_peer *p = peers->head; p; p = p->next) {
		if (!p->ready)
			continue;
		const struct rumor_session *s = rumor_io_conn_session_const(&p->conn);
		const struct rumor_msg_hello *hello = rumor_session_remote_hello(s);
		struct rumor_peer_info info;
		memset(&info, 0, sizeof(info));
		info.peer = p;
		info.node_id = p->id;
		info.addr = rumor_io_conn_addr(&p->conn);
		info.inbound = p->inbound;
		if (hello) {
			info.version = hello->version;
			info.user_agent = hello->user_agent.ptr;
			info.user_agent_len = hello->user_agent.len;
		}
		info.stats = rumor_session_stats(s);
		info.conn_since_us = p->since_us;
		info.netgroup = p->netgroup_text;
		info.discouraged = p->discouraged;
		fn(arg, &info);
	}
}

const uint8_t *rumor_peer_id(const struct rumor_peer *peer)
{
	return peer->id;
}

int rumor_peer_inbound(const struct rumor_peer *peer)
{
	return peer->inbound;
}

const char *rumor_peer_addr(const struct rumor_peer *peer)
{
	return rumor_io_conn_addr(&peer->conn);
}

int rumor_peer_send(struct rumor_peer *peer, const struct rumor_msg *msg)
{
	return rumor_io_conn_send(&peer->conn, msg);
}

void rumor_peer_read_pause(struct rumor_peer *peer, int pause)
{
	rumor_io_conn_read_pause(&peer->conn, pause);
}

void rumor_peer_close(struct rumor_peer *peer, enum rumor_disconnect_code code, const char *reason)
{
	rumor_io_conn_close(&peer->conn, code, reason);
}

rumor_core_peer rumor_peer_handle_of(const struct rumor_peer *peer)
{
	return peer->handle;
}

void rumor_peers_wire_totals(const struct rumor_peers *peers, struct rumor_session_stats *out)
{
	*out = peers->closed_totals;
	for (const struct rumor_peer *p = peers->head; p; p = p->next) {
		const struct rumor_session *s = rumor_io_conn_session_const(&p->conn);
		if (s && !p->counted)
			stats_add(out, rumor_session_stats(s));
	}
	out->ping_us = -1;
}

void rumor_peers_inbound_stats(const struct rumor_peers *peers,
			       struct rumor_peers_inbound_stats *out)
{
	*out = peers->inbound_stats;
	out->ready_inbound = ready_inbound(peers);
	out->handshakes = 0;
	for (const struct rumor_peer *q = peers->head; q; q = q->next)
		out->handshakes += q->inbound && !q->session_ready;
	out->discouraged = rumor_discourage_count(&peers->discouraged, mono_us());
	out->discouraged_total = peers->discouraged.added_total;
}
