/*
 * src/node.c: see node.h.  The shell around the node core (net/core.h).
 *
 * The core decides; this file carries out what it asks, on one libuv loop:
 *
 *   peers.c (sockets) --READY, messages, closes--> core <--submit-- RPC
 *   core --actions--> SEND, CLOSE        -> src/peers.h connections (peer_data)
 *                     DIAL               -> rumor_peers_dial
 *                     VERIFY             -> src/workpool.h (all of one drain
 *                                           handed over together)
 *                     STORE_PUT          -> rumor_store_put (held for the turn:
 *                                           one commit for the turn's writes)
 *                     STORE_HAS/GET      -> rumor_store_has_many / get, answered
 *                                           at once; big lookups and block reads
 *                                           on the store's reader thread
 *                     REPLY              -> the RPC submitter's callback
 *
 * Draining: every event only feeds the core and "kicks": a uv_check_t
 * drains the actions once at the end of the loop turn (a uv_idle_t keeps
 * poll from blocking when the kick came from a check callback that ran
 * before ours), then releases the store hold.  An HTTP request drains at
 * once after its dispatch, so the pool verifies its items while the loop
 * parses the next request.  The one uv_timer_t is armed at
 * rumor_core_expiry() after every drain.  Time: now_us is uv_hrtime() /
 * 1000 (one monotonic clock), wall_us is CLOCK_REALTIME.
 *
 * Shutdown: the core refuses what is queued (REPLY ESHUTDOWN), the pool's
 * jobs not yet started are cancelled (rumor_core_cancelled), peers and the
 * RPC server close; once the core is idle (every job answered) the store
 * closes and the handles go.
 */
#include "config.h"

#include "src/node.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/hex.h"
#include "crypto/sign.h"
#include "rpc/auth.h"
#include "rpc/http_server.h"
#include "rpc/jsonrpc.h"
#include "src/datadir.h"
#include "src/log.h"
#include "src/metrics.h"
#include "src/peers.h"
#include "src/rpc_methods.h"
#include "src/workpool.h"
#include "store/store.h"

/* An RPC submission: the core's REPLY token points at it. */
struct rpc_token {
	rumor_submit_cb cb;
	void *arg;
};

struct verify_job {
	struct rumor_work work; /* first: the pool's list links these */
	uint64_t job;
	const struct rumor_item *item; /* the core's, until answered */
	const char *reason;
};

struct put_job {
	struct rumor_store_put put;
	struct rumor_node *node;
	uint64_t job;
};

struct rumor_node {
	uv_loop_t *loop;
	struct rumor_config cfg;
	struct rumor_network network;
	uint8_t node_seed[32];
	uint8_t node_id[32];
	uint8_t node_secret[RUMOR_SECRET_SIZE]; /* peers prove our identity with it */
	int lock_fd;
	struct rumor_datadir_snapshot fresh; /* what existed before this start */
	char cookie_path[RUMOR_PATH_MAX + 16];
	struct rumor_auth auth;
	struct rumor_store *store;
	struct rumor_http_server *http;
	struct rumor_peers *peers; /* NULL once closed */
	struct rumor_core *core;
	struct rumor_jsonrpc_server rpc;
	rumor_node_put_fn put_hook;
	void *put_arg;

	uv_signal_t sigint, sigterm;
	uv_check_t turn_end;   /* drains the core once per loop turn */
	uv_idle_t idle;        /* keeps poll from blocking until turn_end runs */
	uv_timer_t core_timer; /* at rumor_core_expiry() */
	uv_timer_t stop_timer; /* delayed stop after the `stop` RPC */
	int handles_open;

	int draining;
	int holding; /* the store is held for this turn's writes */
	struct rumor_work *verify_head, *verify_tail; /* for the pool, handed over together */
	size_t verify_queued;
	struct rumor_workpool *verify; /* signature checks; NULL once closed */

	uint64_t start_ms;
	int stopping;
	int closed_handles;
};

static uint64_t now_us(void)
{
	return uv_hrtime() / 1000;
}

static int64_t wall_clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void maybe_finish_stop(struct rumor_node *node);

/* ---- draining the core ------------------------------------------------ */

static void drain(struct rumor_node *node);

static void on_idle(uv_idle_t *idle)
{
	(void)idle; /* only keeps poll from blocking until the check runs */
}

static void on_turn_end(uv_check_t *check)
{
	struct rumor_node *node = check->data;
	uv_check_stop(&node->turn_end);
	uv_idle_stop(&node->idle);
	drain(node);
	/* Last: the writes of the turn go to the writer together. */
	if (node->holding && node->store) {
		rumor_store_hold(node->store, 0);
		node->holding = 0;
	}
}

/* Drain at the end of this loop turn. */
static void kick(struct rumor_node *node)
{
	if (!node->handles_open || node->closed_handles)
		return;
	uv_check_start(&node->turn_end, on_turn_end);
	uv_idle_start(&node->idle, on_idle);
}

static void kick_hook(void *arg)
{
	kick(arg);
}

static void on_core_timer(uv_timer_t *timer)
{
	struct rumor_node *node = timer->data;
	rumor_core_handle_expiry(node->core, now_us());
	drain(node);
}

static void rearm(struct rumor_node *node)
{
	if (!node->handles_open || node->closed_handles)
		return;
	uint64_t expiry = rumor_core_expiry(node->core);
	if (expiry == UINT64_MAX) {
		uv_timer_stop(&node->core_timer);
		return;
	}
	uint64_t now = now_us();
	uint64_t delay_ms = expiry <= now ? 0 : (expiry - now + 999) / 1000;
	uv_timer_start(&node->core_timer, on_core_timer, delay_ms, 0);
}

/* ---- verification on the work pool ---------------------------------- */

/* Items bigger than the largest transaction (blocks of a few thousand
 * transaction ids and up, whose id checks and signature take milliseconds,
 * up to ~60 ms for 4 MiB) are verified as bulk jobs. */
#define VERIFY_BULK_BYTES RUMOR_TX_SIZE_MAX

static void verify_run(struct rumor_work *work, void *arg)
{
	struct rumor_node *node = arg;
	struct verify_job *v = (struct verify_job *)work;
	v->reason = rumor_item_verify_job(v->item, &node->network);
}

static void verify_done(struct rumor_work *work, void *arg)
{
	struct rumor_node *node = arg;
	struct verify_job *v = (struct verify_job *)work;
	if (work->cancelled)
		rumor_core_cancelled(node->core, v->job, now_us());
	else
		rumor_core_verified(node->core, v->job, v->reason, now_us());
	free(v);
	kick(node);
}

/* Hands the items gathered since the last call to the pool at once (one
 * lock, one wake-up: see rumor_workpool_submit_list). */
static void flush_verify(struct rumor_node *node)
{
	if (!node->verify_head)
		return;
	rumor_workpool_submit_list(node->verify, node->verify_head, node->verify_queued);
	node->verify_head = node->verify_tail = NULL;
	node->verify_queued = 0;
}

/* ---- the store ------------------------------------------------------ */

static void on_put_done(struct rumor_store_put *put, int status)
{
	struct put_job *pj = put->data;
	struct rumor_node *node = pj->node;
	char why[256] = "";
	if (status < 0 && node->store) {
		char last[200] = "";
		rumor_store_last_error(node->store, last, sizeof(last));
		/* What the store said, for the log and the RPC reason: the
		 * error (e.g. "No space left on device") and SQLite's text. */
		if (last[0] && status == RUMOR_STORE_EIO) /* SQLite's text is the news */
			snprintf(why, sizeof(why), "%s", last);
		else if (last[0])
			snprintf(why, sizeof(why), "%s (%s)", rumor_store_strerror(status), last);
		else
			snprintf(why, sizeof(why), "%s", rumor_store_strerror(status));
	}
	rumor_core_stored(node->core, pj->job, status, status < 0 ? why : NULL, now_us());
	free(pj);
	kick(node);
}

static void do_put(struct rumor_node *node, const struct rumor_core_action *a)
{
	if (!node->store) {
		rumor_core_cancelled(node->core, a->job, now_us());
		return;
	}
	struct put_job *pj = calloc(1, sizeof(*pj));
	if (!pj) {
		rumor_core_stored(node->core, a->job, -ENOMEM, "out of memory", now_us());
		return;
	}
	pj->node = node;
	pj->job = a->job;
	struct rumor_store_put *put = &pj->put;
	memcpy(put->id, a->item->id, RUMOR_ID_SIZE);
	put->kind = a->item->kind;
	put->encoding = a->item->encoding; /* the core's, until answered */
	put->size = a->item->size;
	put->first_seen_us = a->first_seen_us;
	snprintf(put->source, sizeof(put->source), "%s", a->source);
	if (a->source_peer) {
		memcpy(put->peer, a->source_peer, sizeof(put->peer));
		put->has_peer = 1;
	}
	/* Nobody waits for an "accepted" on a relayed item: its commit need
	 * not wait for an fsync (store.h, lazy_sync). */
	put->lazy_sync = !a->sync;
	put->cb = on_put_done;
	put->data = pj;
	/* The writes of one loop turn go into one transaction: the writer is
	 * woken for all of them at the end of the turn, not by the first. */
	if (!node->holding) {
		rumor_store_hold(node->store, 1);
		node->holding = 1;
		kick(node);
	}
	int rc = rumor_store_put(node->store, put);
	if (rc == RUMOR_STORE_ECLOSED) {
		free(pj);
		rumor_core_cancelled(node->core, a->job, now_us());
		return;
	}
	if (rc != 0) { /* a put the store refuses is a bug in the pipeline */
		log_broken("store refused a validated item: %s", rumor_store_strerror(rc));
		free(pj);
		rumor_core_stored(node->core, a->job, rc, rumor_store_strerror(rc), now_us());
		return;
	}
	if (node->put_hook)
		node->put_hook(node->put_arg, a->item, a->source, a->source_peer);
}

/* A big STORE_HAS (one block's or inv's ids: up to 131,066 lookups, tens of
 * milliseconds) runs on the store's reader thread; a small one (the item
 * and inv checks of a loop turn) here, at once, so relaying an item never
 * waits behind a big lookup or a block read. */
struct has_job {
	struct rumor_store_read read;
	struct rumor_node *node;
	uint64_t job;
	uint8_t *found;
};

static void on_has_done(struct rumor_store_read *read, int status)
{
	struct has_job *h = read->data;
	struct rumor_node *node = h->node;
	if (status != 0 && status != RUMOR_STORE_ECLOSED)
		log_error("cannot look items up: %s", rumor_store_strerror(status));
	if (node->core && !node->closed_handles) {
		rumor_core_store_has_answer(node->core, h->job, status == 0 ? 0 : -1,
					    status == 0 ? h->found : NULL, now_us());
		kick(node);
	}
	free(h->found);
	free(h);
}

static int do_has_off_loop(struct rumor_node *node, const struct rumor_core_action *a)
{
	struct has_job *h = calloc(1, sizeof(*h));
	if (!h)
		return -1;
	h->found = calloc(a->count, 1);
	if (!h->found)
		goto fail;
	h->node = node;
	h->job = a->job;
	h->read.has_ids = a->ids; /* the core keeps them until the answer (core.h) */
	h->read.has_count = a->count;
	h->read.has_found = h->found;
	h->read.cb = on_has_done;
	h->read.data = h;
	if (rumor_store_read(node->store, &h->read) == 0)
		return 0;
fail: /* no memory, or the read queue is full: look them up here */
	free(h->found);
	free(h);
	return -1;
}

static void do_has(struct rumor_node *node, const struct rumor_core_action *a)
{
	if (node->store && a->count > RUMOR_CORE_HAS_SMALL && do_has_off_loop(node, a) == 0)
		return;
	int rc = RUMOR_STORE_ECLOSED;
	const uint8_t **ids = malloc((size_t)(a->count ? a->count : 1) * sizeof(*ids));
	uint8_t *found = calloc(a->count ? a->count : 1, 1);
	if (ids && found && node->store) {
		for (uint32_t i = 0; i < a->count; i++)
			ids[i] = a->ids + 32 * (size_t)i;
		rc = rumor_store_has_many(node->store, ids, a->count, found);
	}
	if (rc != 0 && rc != RUMOR_STORE_ECLOSED)
		log_error("cannot look items up: %s", rumor_store_strerror(rc));
	rumor_core_store_has_answer(node->core, a->job, rc == 0 ? 0 : -1, found, now_us());
	free(ids);
	free(found);
}

/* A block to serve (up to 4 MiB) is read on the store's reader thread, so
 * a getdata flood for large blocks does not hold the loop; a transaction
 * (small) is read here, at once, so serving them stays one loop turn. */
struct get_job {
	struct rumor_store_read read;
	struct rumor_node *node;
	uint64_t job;
	uint8_t kind;
};

static void on_get_done(struct rumor_store_read *read, int status)
{
	struct get_job *g = read->data;
	struct rumor_node *node = g->node;
	if (node->core && !node->closed_handles) {
		if (status == 0 && (uint8_t)read->item.kind == g->kind && read->item.encoding)
			rumor_core_store_get_answer(node->core, g->job, 0, read->item.encoding,
						    read->item.size, now_us());
		else
			rumor_core_store_get_answer(node->core, g->job, status == 0 ? -1 : status,
						    NULL, 0, now_us());
		kick(node);
	}
	free(read->item.encoding);
	free(g);
}

static void do_get(struct rumor_node *node, const struct rumor_core_action *a)
{
	if (node->store && a->kind == RUMOR_ITEM_BLOCK) {
		struct get_job *g = calloc(1, sizeof(*g));
		if (g) {
			memcpy(g->read.id, a->ids, RUMOR_ID_SIZE);
			g->read.want_encoding = 1;
			g->read.cb = on_get_done;
			g->read.data = g;
			g->node = node;
			g->job = a->job;
			g->kind = a->kind;
			if (rumor_store_read(node->store, &g->read) == 0)
				return;
			free(g); /* the read queue is full: read it here */
		}
	}
	struct rumor_store_item it;
	memset(&it, 0, sizeof(it));
	int rc = node->store ? rumor_store_get(node->store, a->ids, &it, 1) : RUMOR_STORE_ECLOSED;
	if (rc == 0 && (uint8_t)it.kind == a->kind && it.encoding)
		rumor_core_store_get_answer(node->core, a->job, 0, it.encoding, it.size, now_us());
	else
		rumor_core_store_get_answer(node->core, a->job, rc == 0 ? -1 : rc, NULL, 0,
					    now_us());
	free(it.encoding);
}

/* ---- carrying out actions ------------------------------------------- */

static void do_action(struct rumor_node *node, const struct rumor_core_action *a)
{
	switch (a->type) {
	case RUMOR_CORE_NONE:
		return;
	case RUMOR_CORE_SEND: {
		struct rumor_peer *peer = a->peer_data;
		int rc = rumor_peer_send(peer, a->msg);
		if (rc != 0)
			log_debug("relay: cannot send %s to %s: %s", rumor_msg_type_name(a->msg->type),
				  rumor_peer_addr(peer), uv_strerror(rc));
		return;
	}
	case RUMOR_CORE_CLOSE:
		rumor_peer_close(a->peer_data, (enum rumor_disconnect_code)a->code, a->reason);
		return;
	case RUMOR_CORE_READ_PAUSE:
		/* the core logs why (debug) */
		rumor_peer_read_pause(a->peer_data, 1);
		return;
	case RUMOR_CORE_READ_RESUME:
		rumor_peer_read_pause(a->peer_data, 0);
		return;
	case RUMOR_CORE_DIAL:
		if (node->peers)
			rumor_peers_dial(node->peers, a->target, a->addr);
		else
			rumor_core_dial_failed(node->core, a->target, 0, now_us());
		return;
	case RUMOR_CORE_VERIFY: {
		struct verify_job *v = calloc(1, sizeof(*v));
		if (!v) {
			rumor_core_verified(node->core, a->job, "out of memory verifying", now_us());
			return;
		}
		v->job = a->job;
		v->item = a->item;
		/* a big block's checks (tens of ms) must not hold up the
		 * transactions queued behind it (workpool.h "Bulk jobs") */
		v->work.bulk = a->item->size > VERIFY_BULK_BYTES;
		if (node->verify_tail)
			node->verify_tail->next = &v->work;
		else
			node->verify_head = &v->work;
		node->verify_tail = &v->work;
		node->verify_queued++;
		return;
	}
	case RUMOR_CORE_STORE_PUT:
		do_put(node, a);
		return;
	case RUMOR_CORE_STORE_HAS:
		do_has(node, a);
		return;
	case RUMOR_CORE_STORE_GET:
		do_get(node, a);
		return;
	case RUMOR_CORE_REPLY: {
		struct rpc_token *t = (struct rpc_token *)(uintptr_t)a->job;
		t->cb(t->arg, (enum rumor_submit_status)a->status, a->reason, a->id);
		free(t);
		return;
	}
	}
}

static void drain(struct rumor_node *node)
{
	if (node->draining || !node->core)
		return;
	node->draining = 1;
	for (;;) {
		struct rumor_core_action a;
		rumor_core_next_action(node->core, &a);
		if (a.type == RUMOR_CORE_NONE)
			break;
		do_action(node, &a);
	}
	node->draining = 0;
	if (node->verify && !node->closed_handles)
		flush_verify(node);
	rearm(node);
	if (node->stopping)
		maybe_finish_stop(node);
}

/* The outcome of an item a peer sent, for the metrics (src/metrics.h). */
static void core_peer_item(void *ctx, int kind, int status, uint64_t latency_us)
{
	(void)ctx;
	rumor_metrics_outcome(kind, RUMOR_METRICS_PEER, status, latency_us);
}

static void core_log(void *ctx, enum rumor_core_log_level level, const char *line)
{
	(void)ctx;
	switch (level) {
	case RUMOR_CORE_LOG_DEBUG:
		log_debug("%s", line);
		return;
	case RUMOR_CORE_LOG_INFO:
		log_info("%s", line);
		return;
	case RUMOR_CORE_LOG_WARN:
		log_warn("%s", line);
		return;
	case RUMOR_CORE_LOG_ERROR:
		log_error("%s", line);
		return;
	case RUMOR_CORE_LOG_BROKEN:
		log_broken("%s", line);
		return;
	}
}

/* ---- submission ------------------------------------------------------ */

void rumor_node_submit(struct rumor_node *node, const uint8_t *bytes, size_t len, int expect,
		       const char *source, const uint8_t *peer_id, rumor_submit_cb cb, void *arg)
{
	(void)source; /* "peer" exactly when peer_id is given */
	struct rpc_token *t = malloc(sizeof(*t));
	if (!t) {
		cb(arg, RUMOR_SUBMIT_EBUSY, "out of memory", NULL);
		return;
	}
	t->cb = cb;
	t->arg = arg;
	uint64_t token = (uint64_t)(uintptr_t)t;
	if (peer_id)
		rumor_core_submit_relayed(node->core, token, bytes, len, expect, peer_id, now_us(),
					  wall_clock_us());
	else
		rumor_core_submit(node->core, token, bytes, len, expect, now_us(), wall_clock_us());
	kick(node);
}

void rumor_node_set_put_hook(struct rumor_node *node, rumor_node_put_fn fn, void *arg)
{
	node->put_hook = fn;
	node->put_arg = arg;
}

/* ---- operator requests ---------------------------------------------- */

static void core_addr(struct rumor_core_addr *out, const struct rumor_connect_target *t)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->host, sizeof(out->host), "%s", t->host);
	out->port = (uint16_t)t->port;
	out->has_id = t->has_id;
	if (t->has_id)
		memcpy(out->id, t->id, 32);
}

int rumor_node_add_target(struct rumor_node *node, const struct rumor_connect_target *t,
			  int onetry)
{
	if (node->stopping)
		return -ESHUTDOWN;
	struct rumor_core_addr addr;
	core_addr(&addr, t);
	int rc = rumor_core_target_add(node->core, &addr, onetry, now_us(), NULL);
	kick(node);
	return rc;
}

int rumor_node_remove_target(struct rumor_node *node, const struct rumor_connect_target *t)
{
	if (node->stopping)
		return -ENOENT;
	struct rumor_core_addr addr;
	core_addr(&addr, t);
	rumor_core_target target = rumor_core_find_target(node->core, &addr);
	int rc = rumor_core_target_remove(node->core, &addr, now_us());
	if (rc == 0 && node->peers)
		rumor_peers_cancel_dial(node->peers, target);
	kick(node);
	return rc;
}

int rumor_node_disconnect(struct rumor_node *node, const uint8_t id[32])
{
	if (node->stopping)
		return -ENOENT;
	int rc = rumor_core_disconnect(node->core, id, now_us());
	kick(node);
	return rc;
}

int rumor_node_peer_budget(const struct rumor_node *node, const struct rumor_peer *peer,
			   struct rumor_core_peer_budget *out)
{
	return rumor_core_peer_budget(node->core, rumor_peer_handle_of(peer), out);
}

void rumor_node_core_stats(const struct rumor_node *node, struct rumor_core_stats *out)
{
	rumor_core_get_stats(node->core, out);
}

int rumor_node_peer_relay_stats(const struct rumor_node *node, const struct rumor_peer *peer,
				struct rumor_relay_peer_stats *out)
{
	return rumor_core_peer_stats(node->core, rumor_peer_handle_of(peer), out);
}

struct rumor_jsonrpc_server *rumor_node_rpc(struct rumor_node *node)
{
	return &node->rpc;
}

/* ---- RPC glue -------------------------------------------------------- */

static void rpc_done(void *arg, char *body, size_t len)
{
	struct rumor_http_request *req = arg;
	if (body)
		rumor_http_respond(req, 200, "application/json", body, len);
	else
		rumor_http_respond(req, 204, NULL, NULL, 0);
}

static void rpc_abort(struct rumor_http_request *req, void *arg)
{
	(void)req;
	rumor_jsonrpc_request_cancel(arg);
}

static void on_http_request(struct rumor_http_request *req, const char *body, size_t len,
			    void *ctx)
{
	struct rumor_node *node = ctx;
	rumor_rpc_methods_set_caller(req); /* for log lines such as `stop`'s */
	struct rumor_jsonrpc_request *rr = rumor_jsonrpc_handle(&node->rpc, body, len, rpc_done, req);
	rumor_rpc_methods_set_caller(NULL);
	if (rr)
		rumor_http_request_on_abort(req, rpc_abort, rr);
	/* Verify this request's items now rather than at the end of the turn:
	 * when several requests arrive in one turn, the pool verifies the first
	 * while this thread parses the next. */
	if (!node->stopping)
		drain(node);
}

/* ---- start and stop -------------------------------------------------- */

static void on_signal(uv_signal_t *handle, int signum)
{
	struct rumor_node *node = handle->data;
	log_info("received %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
	rumor_node_stop(node);
}

static void on_stop_timer(uv_timer_t *timer)
{
	rumor_node_stop(timer->data);
}

void rumor_node_request_stop(struct rumor_node *node)
{
	/* Give the event loop a moment to write the `stop` reply first. */
	uv_timer_start(&node->stop_timer, on_stop_timer, 50, 0);
}

static void on_http_closed(void *arg)
{
	struct rumor_node *node = arg;
	node->http = NULL;
	maybe_finish_stop(node);
}

static void on_peers_closed(void *arg)
{
	struct rumor_node *node = arg;
	node->peers = NULL;
	maybe_finish_stop(node);
}

static void on_handle_closed(uv_handle_t *handle)
{
	(void)handle;
}

/* The last step of shutdown: runs once nothing is in flight. */
static void maybe_finish_stop(struct rumor_node *node)
{
	if (node->closed_handles || node->http || node->peers || !rumor_core_idle(node->core) ||
	    node->draining || (node->verify && rumor_workpool_pending(node->verify)))
		return;
	node->closed_handles = 1;
	if (node->verify) {
		rumor_workpool_close(node->verify);
		node->verify = NULL;
	}
	if (node->holding && node->store) {
		rumor_store_hold(node->store, 0);
		node->holding = 0;
	}
	if (node->store) {
		rumor_store_close(node->store);
		node->store = NULL;
	}
	if (node->cookie_path[0] && unlink(node->cookie_path) != 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", node->cookie_path, strerror(errno));
	uv_close((uv_handle_t *)&node->sigint, NULL);
	uv_close((uv_handle_t *)&node->sigterm, NULL);
	uv_close((uv_handle_t *)&node->turn_end, on_handle_closed);
	uv_close((uv_handle_t *)&node->idle, on_handle_closed);
	uv_close((uv_handle_t *)&node->core_timer, on_handle_closed);
	uv_close((uv_handle_t *)&node->stop_timer, NULL);
	log_info("shutdown complete");
}

void rumor_node_stop(struct rumor_node *node)
{
	if (node->stopping)
		return;
	node->stopping = 1;
	/* The core refuses what is queued but not yet verifying and stops
	 * relaying and dialling; jobs out still get their answers. */
	rumor_core_shutdown(node->core, now_us());
	drain(node);
	rumor_workpool_cancel(node->verify); /* cancelled: rumor_core_cancelled */
	/* Peers get disconnect(shutdown) and a bounded flush (conn.h linger). */
	if (node->peers)
		rumor_peers_close(node->peers, on_peers_closed, node);
	if (node->http)
		rumor_http_server_close(node->http, on_http_closed, node);
	drain(node); /* the answers of the cancelled jobs; finishes when idle */
}

static int write_cookie(struct rumor_node *node, char *err, size_t errlen)
{
	snprintf(node->cookie_path, sizeof(node->cookie_path), "%s/.cookie", node->cfg.datadir);
	int rc = rumor_auth_write_cookie(&node->auth, node->cookie_path);
	if (rc != 0) {
		snprintf(err, errlen, "cannot write RPC cookie %s: %s", node->cookie_path,
			 strerror(-rc));
		node->cookie_path[0] = '\0';
		return -1;
	}
	return 0;
}

int rumor_node_start(struct rumor_node **out, uv_loop_t *loop, const struct rumor_config *cfg,
		     char *err, size_t errlen)
{
	*out = NULL;
	struct rumor_node *node = calloc(1, sizeof(*node));
	if (!node) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	node->loop = loop;
	node->cfg = *cfg;
	node->lock_fd = -1;
	node->start_ms = uv_now(loop);

	if (rumor_network_init(&node->network, cfg->network) != 0) {
		snprintf(err, errlen, "invalid network name '%s'", cfg->network);
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_producers; i++)
		rumor_network_add_producer(&node->network, cfg->producers[i]);

	rumor_datadir_snapshot(cfg->datadir, &node->fresh);
	if (rumor_datadir_prepare(cfg->datadir, err, errlen) ||
	    rumor_datadir_lock(cfg->datadir, &node->lock_fd, err, errlen) ||
	    rumor_datadir_network(cfg->datadir, cfg->network, err, errlen))
		goto fail;
	int created = 0;
	if (rumor_datadir_node_key(cfg->datadir, node->node_seed, &created, err, errlen))
		goto fail;
	rumor_sign_keypair_from_seed(node->node_seed, node->node_id, node->node_secret);
	char idhex[65];
	rumor_hex_encode(node->node_id, 32, idhex);
	log_info("node id %s%s, network %s", idhex, created ? " (new key)" : "", cfg->network);

	struct rumor_core_config cc;
	rumor_core_config_default(&cc);
	cc.network = &node->network;
	memcpy(cc.node_id, node->node_id, 32);
	do
		rumor_random(&cc.hello_nonce, sizeof(cc.hello_nonce));
	while (cc.hello_nonce == 0);
	rumor_random(cc.seed, sizeof(cc.seed));
	cc.relay.flush_interval_us = (uint64_t)cfg->inv_flush_ms * 1000;
	/* Every peer the options allow is one the core takes: the inbound
	 * ones (at most RUMOR_CORE_INBOUND_MAX) and one per dial target. */
	cc.max_peers = cfg->max_inbound + cc.targets_max;
	cc.relay.poisson_delay = cfg->inv_poisson;
	cc.serve_rate = cfg->peer_serve_rate;
	cc.serve_burst = cfg->peer_serve_burst;
	cc.log = core_log;
	cc.log_ctx = node;
	cc.peer_item = core_peer_item;
	cc.peer_item_ctx = node;
	int crc = rumor_core_new(&node->core, &cc, now_us());
	sodium_memzero(cc.seed, sizeof(cc.seed));
	if (crc != 0) {
		snprintf(err, errlen, "%s", crc == -ENOMEM ? "out of memory" : "relay: invalid configuration");
		goto fail;
	}

	char dbpath[RUMOR_PATH_MAX + 32];
	snprintf(dbpath, sizeof(dbpath), "%s/rumor.sqlite", cfg->datadir);
	char dberr[512] = "";
	int rc = rumor_store_open(&node->store, loop, dbpath, dberr, sizeof(dberr));
	if (rc != 0) {
		snprintf(err, errlen, "cannot open database: %s", dberr);
		goto fail;
	}
	uint64_t ntx = 0, nblock = 0;
	rumor_store_counts(node->store, &ntx, &nblock);
	log_info("database %s: %llu transactions, %llu blocks", dbpath, (unsigned long long)ntx,
		 (unsigned long long)nblock);

	/* One verification thread per core: the loop and writer threads are
	 * mostly idle or waiting, and verification is the pipeline's main
	 * cost. */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = cpus < 1 ? 1 : cpus > RUMOR_WORKPOOL_THREADS_MAX
					       ? RUMOR_WORKPOOL_THREADS_MAX
					       : (unsigned)cpus;
	rc = rumor_workpool_new(&node->verify, loop, threads, verify_run, verify_done, node);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start verification threads: %s", uv_strerror(rc));
		goto fail;
	}

	rumor_auth_init(&node->auth);
	for (size_t i = 0; i < cfg->n_rpcauth; i++) {
		const char *why = rumor_auth_add_rpcauth(&node->auth, cfg->rpcauth[i]);
		if (why) {
			snprintf(err, errlen, "rpcauth: %s", why);
			goto fail;
		}
	}
	if (write_cookie(node, err, errlen))
		goto fail;

	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.max_body_bytes = cfg->rpc_max_body;
	limits.max_clients = cfg->rpc_max_clients;
	limits.idle_timeout_ms = (uint64_t)cfg->rpc_timeout_s * 1000;
	rc = rumor_http_server_new(&node->http, loop, cfg->rpc_host, cfg->rpc_port, &limits,
				   &node->auth, on_http_request, node);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen for RPC on %s:%d: %s", cfg->rpc_host,
			 cfg->rpc_port, uv_strerror(rc));
		goto fail;
	}

	uv_check_init(loop, &node->turn_end);
	uv_idle_init(loop, &node->idle);
	uv_timer_init(loop, &node->core_timer);
	node->turn_end.data = node->idle.data = node->core_timer.data = node;
	node->handles_open = 1;

	struct rumor_peers_config peers_cfg;
	rumor_peers_config_from_options(&peers_cfg, &node->cfg);
	peers_cfg.network = &node->network;
	peers_cfg.identity_secret = node->node_secret;
	peers_cfg.hello_nonce = cc.hello_nonce;
	peers_cfg.core = node->core;
	peers_cfg.kick = kick_hook;
	peers_cfg.hook_arg = node;
	if (rumor_peers_start(&node->peers, loop, &peers_cfg, err, errlen))
		goto fail;
	for (size_t i = 0; i < cfg->n_connect; i++) {
		int trc = rumor_node_add_target(node, &cfg->connect[i], 0);
		if (trc == -EEXIST)
			log_warn("p2p: %s:%d is listed twice; dialling it once", cfg->connect[i].host,
				 cfg->connect[i].port);
		else if (trc != 0)
			log_error("p2p: cannot add peer %s:%d: %s", cfg->connect[i].host,
				  cfg->connect[i].port, strerror(-trc));
	}

	uv_signal_init(loop, &node->sigint);
	uv_signal_init(loop, &node->sigterm);
	node->sigint.data = node->sigterm.data = node;
	uv_signal_start(&node->sigint, on_signal, SIGINT);
	uv_signal_start(&node->sigterm, on_signal, SIGTERM);
	uv_timer_init(loop, &node->stop_timer);
	node->stop_timer.data = node;


	log_notice("rpc: listening on %s%s%s:%d", strchr(cfg->rpc_host, ':') ? "[" : "",
		 cfg->rpc_host, strchr(cfg->rpc_host, ':') ? "]" : "",
		 rumor_http_server_port(node->http));
	*out = node;
	return 0;

fail:
	if (node->http) /* the last step, peers, failed */
		rumor_http_server_close(node->http, NULL, NULL);
	if (node->verify) /* nothing submitted yet: nothing pending */
		rumor_workpool_close(node->verify);
	if (node->store)
		rumor_store_close(node->store);
	if (node->handles_open) {
		uv_close((uv_handle_t *)&node->turn_end, NULL);
		uv_close((uv_handle_t *)&node->idle, NULL);
		uv_close((uv_handle_t *)&node->core_timer, NULL);
	}
	if (node->verify || node->store || node->handles_open)
		uv_run(loop, UV_RUN_DEFAULT); /* let their handles close */
	if (node->cookie_path[0])
		unlink(node->cookie_path);
	rumor_core_del(node->core);
	if (node->lock_fd >= 0) /* a failed start leaves the datadir as it was */
		rumor_datadir_undo(cfg->datadir, &node->fresh);
	rumor_datadir_unlock(node->lock_fd);
	sodium_memzero(node->node_seed, sizeof(node->node_seed));
	sodium_memzero(node->node_secret, sizeof(node->node_secret));
	free(node);
	return -1;
}

void rumor_node_free(struct rumor_node *node)
{
	if (!node)
		return;
	rumor_core_del(node->core);
	rumor_datadir_unlock(node->lock_fd);
	sodium_memzero(node->node_seed, sizeof(node->node_seed));
	sodium_memzero(node->node_secret, sizeof(node->node_secret));
	free(node);
}

struct rumor_store *rumor_node_store(struct rumor_node *node)
{
	return node->store;
}

void rumor_node_rpc_stats(const struct rumor_node *node, struct rumor_http_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (node->http)
		rumor_http_server_get_stats(node->http, out);
}

const struct rumor_network *rumor_node_network(const struct rumor_node *node)
{
	return &node->network;
}

const uint8_t *rumor_node_id(const struct rumor_node *node)
{
	return node->node_id;
}

struct rumor_peers *rumor_node_peers(struct rumor_node *node)
{
	return node->peers;
}

uint64_t rumor_node_uptime_s(const struct rumor_node *node)
{
	return (uv_now(node->loop) - node->start_ms) / 1000;
}

void rumor_node_get_pipeline(const struct rumor_node *node, struct rumor_node_pipeline *out)
{
	struct rumor_core_stats cs;
	rumor_core_get_stats(node->core, &cs);
	out->in_flight = cs.in_flight;
	out->in_flight_bytes = cs.in_flight_bytes;
	out->verify_queued =
		node->verify_queued + (node->verify ? rumor_workpool_pending(node->verify) : 0);
}

int rumor_node_stopping(const struct rumor_node *node)
{
	return node->stopping;
}
