/*
 * src/node.c: see node.h.
 *
 * Submission life cycle (struct submission):
 *
 *   rumor_node_submit
 *        | decode, kind, check fail -> callback now (nothing allocated)
 *        | id already in flight      -> join that submission's waiters
 *        v
 *   CHECKING (node->check_head; items from peers only) --end of loop turn:
 *        |      one store read for the whole turn--> in store: finish(KNOWN)
 *        v
 *   VERIFYING (node->verify, src/workpool.h: queued, then on a pool thread)
 *        | bad signature -> finish(EREJECT)
 *        v
 *   WRITING (store writer thread) --commit--> finish(ACCEPTED | KNOWN | ESTORE)
 *
 * Items from peers are looked up in the store before verification: a peer
 * must not make us verify what we have.  RPC submissions skip that lookup
 * (about a fifth of the loop thread's work per item under load: the read
 * connection's page cache is dropped at every commit): the write's INSERT
 * finds an item already stored anyway, and an RPC client resubmitting
 * costs only a verification.  Such an item is announced to peers when its
 * commit says it is new (valid hook, then accepted hook), not before.
 *
 * finish() answers every waiter, removes the id from the in-flight map and
 * frees the submission.  During shutdown no new work is queued; the loop
 * keeps running until verify batches and writes already started are done.
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
#include "crypto/idmap.h"
#include "crypto/sign.h"
#include "rpc/auth.h"
#include "rpc/http_server.h"
#include "rpc/jsonrpc.h"
#include "src/datadir.h"
#include "src/log.h"
#include "src/peers.h"
#include "src/relay.h"
#include "src/rpc_methods.h"
#include "src/workpool.h"
#include "store/store.h"

struct waiter {
	rumor_submit_cb cb;
	void *arg;
	struct waiter *next;
};

struct submission {
	struct rumor_node *node;
	uint8_t *bytes; /* owned copy; item points into it */
	struct rumor_item item;
	const char *reason;      /* set by verification */
	struct waiter first;     /* the first submitter */
	struct waiter *more;     /* later submitters of the same id */
	struct rumor_store_put put;
	int rpc_waiter;          /* an RPC submitter waits: answer after a synced commit */
	int stored_status;       /* the lazy put's status, while a synced put follows */
	int unchecked;           /* not looked up in the store: announce at commit */
	struct submission *next; /* in the check list */
	struct rumor_work work;  /* while verifying */
};

#define SUBMISSION_OF(w) ((struct submission *)((char *)(w)-offsetof(struct submission, work)))

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
	struct rumor_node_relay *relay; /* inv/getdata glue (src/relay.h) */
	rumor_node_accepted_fn accepted_hook; /* every newly stored item */
	rumor_node_accepted_fn valid_hook; /* every new valid item, before commit */
	void *valid_arg;
	void *accepted_arg;
	struct rumor_jsonrpc_server rpc;

	uv_signal_t sigint, sigterm;
	uv_check_t turn_end;   /* flushes the verify queue once per loop turn */
	uv_timer_t stop_timer; /* delayed stop after the `stop` RPC */

	struct rumor_idmap in_flight; /* id -> struct submission */
	size_t in_flight_bytes;
	struct submission *check_head, *check_tail; /* dedup against the store at turn end */
	struct rumor_work *verify_head, *verify_tail; /* for the pool, handed over together */
	size_t verify_queued;
	struct rumor_workpool *verify; /* signature checks; NULL once closed */

	uint64_t start_ms;
	int stopping;
	int closed_handles;
};

static int64_t wall_clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- finishing ------------------------------------------------------- */

static void maybe_finish_stop(struct rumor_node *node);

static void finish(struct submission *sub, enum rumor_submit_status status, const char *reason)
{
	struct rumor_node *node = sub->node;
	void *removed = rumor_idmap_del(&node->in_flight, sub->item.id);
	assert(removed == sub);
	(void)removed;
	node->in_flight_bytes -= sub->item.size;
	uint8_t id[RUMOR_ID_SIZE];
	memcpy(id, sub->item.id, sizeof(id));

	struct waiter *w = sub->more;
	sub->first.cb(sub->first.arg, status, reason, id);
	while (w) {
		struct waiter *next = w->next;
		/* A later submitter of an item the first one stored finds it known. */
		w->cb(w->arg, status == RUMOR_SUBMIT_ACCEPTED ? RUMOR_SUBMIT_KNOWN : status, reason,
		      id);
		free(w);
		w = next;
	}
	free(sub->bytes);
	free(sub);
	if (node->stopping)
		maybe_finish_stop(node);
}

/* ---- store ----------------------------------------------------------- */

static void on_put_done(struct rumor_store_put *put, int status);

/* The synced put that follows a lazy one (see on_put_done) is done. */
static void on_synced_put_done(struct rumor_store_put *put, int status)
{
	struct submission *sub = put->data;
	if (status == 0 || status == 1) {
		finish(sub, sub->stored_status == 0 ? RUMOR_SUBMIT_ACCEPTED : RUMOR_SUBMIT_KNOWN,
		       NULL);
		return;
	}
	/* Stored by the lazy commit, but not known to be on disk: the RPC
	 * caller must not be told it is. */
	on_put_done(put, status);
}

/* An RPC submitter joined after the item's lazy put was queued (it came
 * from a peer): its commit may not be synced, and the RPC answer must wait
 * for one that is.  Puts the item again without lazy_sync (the store
 * syncs its WAL even when the put finds the item present).  Returns 0, or
 * -1 when the store refused. */
static int put_synced(struct submission *sub, int status)
{
	sub->stored_status = status;
	sub->put.lazy_sync = 0;
	sub->put.cb = on_synced_put_done;
	return rumor_store_put(sub->node->store, &sub->put);
}

static void stored(struct submission *sub)
{
	struct rumor_store_put *put = &sub->put;
	char idhex[65], peerhex[65] = "-";
	rumor_hex_encode(sub->item.id, 32, idhex);
	if (put->has_peer)
		rumor_hex_encode(put->peer, 32, peerhex);
	log_debug("stored %s %.*s from %s %.*s", rumor_item_kind_name(sub->item.kind),
		  RUMOR_LOG_ID_SHORT, idhex, put->source, RUMOR_LOG_ID_SHORT, peerhex);
	if (sub->node->accepted_hook) /* relay: counters, blocks waiting for it */
		sub->node->accepted_hook(sub->node->accepted_arg, &sub->item, put->source,
					 put->has_peer ? put->peer : NULL);
}

static void on_put_done(struct rumor_store_put *put, int status)
{
	struct submission *sub = put->data;
	if ((status == 0 || status == 1) && put->lazy_sync && sub->rpc_waiter) {
		if (status == 0)
			stored(sub);
		if (put_synced(sub, status) != 0)
			finish(sub, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down");
		return;
	}
	if (status == 0) {
		if (sub->unchecked && sub->node->valid_hook)
			sub->node->valid_hook(sub->node->valid_arg, &sub->item, put->source,
					      put->has_peer ? put->peer : NULL);
		stored(sub);
		finish(sub, RUMOR_SUBMIT_ACCEPTED, NULL);
	} else if (status == 1) {
		finish(sub, RUMOR_SUBMIT_KNOWN, NULL);
	} else {
		char why[256] = "";
		rumor_store_last_error(sub->node->store, why, sizeof(why));
		log_error("cannot store item: %s (%s)", rumor_store_strerror(status), why);
		finish(sub, RUMOR_SUBMIT_ESTORE, "database error: item not stored");
	}
}

static void on_turn_end(uv_check_t *handle);

/* announce: call the valid hook (a new item), not for an item the store
 * already has. */
static void start_write(struct submission *sub, int announce)
{
	/* The writes of one loop turn go into one transaction: the writer is
	 * woken for all of them at the end of the turn (on_turn_end), not by
	 * the first one alone (which made commits of one or two items). */
	rumor_store_hold(sub->node->store, 1);
	uv_check_start(&sub->node->turn_end, on_turn_end);
	struct rumor_store_put *put = &sub->put;
	memcpy(put->id, sub->item.id, RUMOR_ID_SIZE);
	put->kind = sub->item.kind;
	put->encoding = sub->bytes;
	put->size = sub->item.size;
	put->first_seen_us = wall_clock_us();
	put->cb = on_put_done;
	put->data = sub;
	if (sub->rpc_waiter)
		put->lazy_sync = 0;
	int rc = rumor_store_put(sub->node->store, put);
	if (rc == 0 && announce && sub->node->valid_hook)
		sub->node->valid_hook(sub->node->valid_arg, &sub->item, put->source,
				      put->has_peer ? put->peer : NULL);
	if (rc == RUMOR_STORE_ECLOSED)
		finish(sub, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down");
	else if (rc != 0) { /* a put the store refuses is a bug in the pipeline */
		log_broken("store refused a validated item: %s", rumor_store_strerror(rc));
		finish(sub, RUMOR_SUBMIT_ESTORE, rumor_store_strerror(rc));
	}
}

/* ---- verification on the work pool ---------------------------------- */

static void verify_run(struct rumor_work *work, void *arg)
{
	struct rumor_node *node = arg;
	struct submission *s = SUBMISSION_OF(work);
	s->reason = rumor_item_verify(&s->item, &node->network);
}

static void verify_done(struct rumor_work *work, void *arg)
{
	struct rumor_node *node = arg;
	struct submission *s = SUBMISSION_OF(work);
	if (work->cancelled)
		finish(s, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down");
	else if (s->reason)
		finish(s, RUMOR_SUBMIT_EREJECT, s->reason);
	else if (node->stopping && !node->store)
		finish(s, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down");
	else
		start_write(s, !s->unchecked);
}

/* Gathers an item for the pool: flush_verify hands them over together at
 * the end of the RPC request or of the loop turn. */
static void queue_verify(struct rumor_node *node, struct submission *sub)
{
	sub->work.next = NULL;
	if (node->verify_tail)
		node->verify_tail->next = &sub->work;
	else
		node->verify_head = &sub->work;
	node->verify_tail = &sub->work;
	node->verify_queued++;
}

/* Ids checked against the store per read transaction. */
#define CHECK_BATCH 256

/* Dedups this turn's new submissions against the store in one read
 * transaction (rather than one per item); those the store lacks go on to
 * verification, in submission order. */
static void check_stored(struct rumor_node *node)
{
	struct submission *s = node->check_head;
	node->check_head = node->check_tail = NULL;
	while (s) {
		struct submission *batch[CHECK_BATCH];
		const uint8_t *ids[CHECK_BATCH];
		uint8_t found[CHECK_BATCH];
		size_t n = 0;
		for (; s && n < CHECK_BATCH; s = s->next) {
			batch[n] = s;
			ids[n] = s->item.id;
			n++;
		}
		int rc = rumor_store_has_many(node->store, ids, n, found);
		for (size_t i = 0; i < n; i++) {
			struct submission *sub = batch[i];
			sub->next = NULL;
			if (node->stopping) { /* a callback above stopped the node */
				finish(sub, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down");
			} else if (rc != 0) {
				finish(sub, RUMOR_SUBMIT_ESTORE,
				       "database error while checking for the item");
			} else if (found[i] && sub->rpc_waiter) {
				/* Found, but perhaps from a lazy commit not yet
				 * on disk: a synced put (which finds it) comes
				 * before the RPC answer. */
				start_write(sub, 0);
			} else if (found[i]) {
				finish(sub, RUMOR_SUBMIT_KNOWN, NULL);
			} else {
				queue_verify(node, sub);
			}
		}
	}
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

static void on_turn_end(uv_check_t *handle)
{
	struct rumor_node *node = handle->data;
	check_stored(node);
	flush_verify(node);
	/* Last: check_stored may have queued writes too. */
	if (node->store)
		rumor_store_hold(node->store, 0);
	if (!node->check_head)
		uv_check_stop(handle);
}

/* ---- submission ------------------------------------------------------ */

void rumor_node_submit(struct rumor_node *node, const uint8_t *bytes, size_t len, int expect,
		       const char *source, const uint8_t *peer_id, rumor_submit_cb cb, void *arg)
{
	if (node->stopping) {
		cb(arg, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down", NULL);
		return;
	}
	struct rumor_item item;
	const char *why = rumor_item_decode(&item, bytes, len);
	if (why) {
		cb(arg, RUMOR_SUBMIT_EDECODE, why, NULL);
		return;
	}
	if (expect && (int)item.kind != expect) {
		cb(arg, RUMOR_SUBMIT_EDECODE,
		   expect == RUMOR_ITEM_TX ? "expected a transaction, got a block (use submitblock)"
					   : "expected a block, got a transaction (use sendrawtransaction)",
		   item.id);
		return;
	}
	why = rumor_item_check(&item, &node->network, (uint64_t)(wall_clock_us() / 1000000));
	if (why) {
		cb(arg, RUMOR_SUBMIT_EREJECT, why, item.id);
		return;
	}
	struct submission *running = rumor_idmap_get(&node->in_flight, item.id);
	if (running) {
		struct waiter *w = malloc(sizeof(*w));
		if (!w) {
			cb(arg, RUMOR_SUBMIT_EBUSY, "out of memory", item.id);
			return;
		}
		w->cb = cb;
		w->arg = arg;
		w->next = running->more;
		running->more = w;
		/* An RPC caller is answered only after a synced commit: before
		 * the write, the put loses lazy_sync; after, a synced put
		 * follows the lazy one (on_put_done). */
		if (!peer_id)
			running->rpc_waiter = 1;
		return;
	}
	if (node->in_flight.count >= RUMOR_NODE_PENDING_MAX ||
	    node->in_flight_bytes + len > RUMOR_NODE_PENDING_BYTES_MAX) {
		cb(arg, RUMOR_SUBMIT_EBUSY, "node is busy: too many items awaiting verification",
		   item.id);
		return;
	}
	struct submission *sub = calloc(1, sizeof(*sub));
	uint8_t *copy = malloc(len);
	if (!sub || !copy) {
		free(sub);
		free(copy);
		cb(arg, RUMOR_SUBMIT_EBUSY, "out of memory", item.id);
		return;
	}
	memcpy(copy, bytes, len);
	sub->node = node;
	sub->bytes = copy;
	/* Re-point the decoded view at our copy: same bytes, so no second decode
	 * and no second SHA-256. */
	sub->item = item;
	rumor_item_rebase(&sub->item, copy);
	sub->first.cb = cb;
	sub->first.arg = arg;
	snprintf(sub->put.source, sizeof(sub->put.source), "%s", source);
	if (peer_id) {
		memcpy(sub->put.peer, peer_id, sizeof(sub->put.peer));
		sub->put.has_peer = 1;
		/* Nobody waits for an "accepted" on a relayed item: its commit
		 * need not wait for an fsync (store.h, lazy_sync). */
		sub->put.lazy_sync = 1;
	} else {
		sub->rpc_waiter = 1;
	}
	int rc = rumor_idmap_put(&node->in_flight, sub->item.id, sub);
	if (rc != 0) {
		free(copy);
		free(sub);
		cb(arg, RUMOR_SUBMIT_EBUSY, "node is busy", item.id);
		return;
	}
	node->in_flight_bytes += len;
	if (sub->rpc_waiter) { /* see the top of this file */
		sub->unchecked = 1;
		/* To the pool when the RPC request is dispatched (or at the end
		 * of the turn), all its items at once. */
		queue_verify(node, sub);
		uv_check_start(&node->turn_end, on_turn_end);
		return;
	}
	/* The store is asked at the end of the turn (check_stored), for every
	 * item of the turn at once, before any signature work. */
	if (node->check_tail)
		node->check_tail->next = sub;
	else
		node->check_head = sub;
	node->check_tail = sub;
	uv_check_start(&node->turn_end, on_turn_end);
}

int rumor_node_has_item(struct rumor_node *node, const uint8_t id[RUMOR_ID_SIZE])
{
	if (rumor_idmap_get(&node->in_flight, id))
		return 1;
	if (!node->store)
		return RUMOR_STORE_ECLOSED;
	return rumor_store_has(node->store, id);
}

void rumor_node_set_accepted_hook(struct rumor_node *node, rumor_node_accepted_fn fn, void *arg)
{
	node->accepted_hook = fn;
	node->accepted_arg = arg;
}

void rumor_node_set_valid_hook(struct rumor_node *node, rumor_node_accepted_fn fn, void *arg)
{
	node->valid_hook = fn;
	node->valid_arg = arg;
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
		flush_verify(node);
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

/* The last step of shutdown: runs once nothing is in flight. */
static void maybe_finish_stop(struct rumor_node *node)
{
	if (node->closed_handles || node->http || node->peers || node->in_flight.count ||
	    (node->verify && rumor_workpool_pending(node->verify)))
		return;
	node->closed_handles = 1;
	if (node->verify) {
		rumor_workpool_close(node->verify);
		node->verify = NULL;
	}
	if (node->store) {
		rumor_store_close(node->store);
		node->store = NULL;
	}
	if (node->cookie_path[0] && unlink(node->cookie_path) != 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", node->cookie_path, strerror(errno));
	uv_close((uv_handle_t *)&node->sigint, NULL);
	uv_close((uv_handle_t *)&node->sigterm, NULL);
	uv_close((uv_handle_t *)&node->turn_end, NULL);
	uv_close((uv_handle_t *)&node->stop_timer, NULL);
	log_info("shutdown complete");
}

void rumor_node_stop(struct rumor_node *node)
{
	if (node->stopping)
		return;
	node->stopping = 1;
	/* Refuse what is queued but not yet verifying. */
	struct submission *s = node->check_head;
	node->check_head = node->check_tail = NULL;
	while (s) {
		struct submission *next = s->next;
		finish(s, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down");
		s = next;
	}
	struct rumor_work *w = node->verify_head;
	node->verify_head = node->verify_tail = NULL;
	node->verify_queued = 0;
	while (w) {
		struct rumor_work *next = w->next;
		finish(SUBMISSION_OF(w), RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down");
		w = next;
	}
	rumor_workpool_cancel(node->verify);
	/* The relay stops first (no more sends or timers), then peers get
	 * disconnect(shutdown) and a bounded flush (io.h linger). */
	if (node->relay)
		rumor_node_relay_stop(node->relay);
	if (node->peers)
		rumor_peers_close(node->peers, on_peers_closed, node);
	if (node->http)
		rumor_http_server_close(node->http, on_http_closed, node);
	else
		maybe_finish_stop(node);
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

	uint8_t mapkey[16];
	rumor_random(mapkey, sizeof(mapkey));
	if (rumor_idmap_init(&node->in_flight, RUMOR_NODE_PENDING_MAX, mapkey)) {
		snprintf(err, errlen, "out of memory");
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

	rumor_rpc_methods_setup(&node->rpc, node);
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

	struct rumor_peers_config peers_cfg;
	rumor_peers_config_from_options(&peers_cfg, &node->cfg);
	peers_cfg.network = &node->network;
	peers_cfg.identity_secret = node->node_secret;
	if (rumor_node_relay_new(&node->relay, loop, node, &node->cfg, err, errlen))
		goto fail;
	rumor_node_relay_peer_hooks(node->relay, &peers_cfg);
	if (rumor_peers_start(&node->peers, loop, &peers_cfg, err, errlen))
		goto fail;
	rumor_node_relay_start(node->relay, node->peers); /* after peers, stopped before */

	uv_signal_init(loop, &node->sigint);
	uv_signal_init(loop, &node->sigterm);
	node->sigint.data = node->sigterm.data = node;
	uv_signal_start(&node->sigint, on_signal, SIGINT);
	uv_signal_start(&node->sigterm, on_signal, SIGTERM);
	uv_check_init(loop, &node->turn_end);
	node->turn_end.data = node;
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
	if (node->verify || node->store)
		uv_run(loop, UV_RUN_DEFAULT); /* let their handles close */
	if (node->cookie_path[0])
		unlink(node->cookie_path);
	rumor_node_relay_del(node->relay);
	rumor_idmap_free(&node->in_flight);
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
	rumor_node_relay_del(node->relay);
	rumor_idmap_free(&node->in_flight);
	rumor_datadir_unlock(node->lock_fd);
	sodium_memzero(node->node_seed, sizeof(node->node_seed));
	sodium_memzero(node->node_secret, sizeof(node->node_secret));
	free(node);
}

struct rumor_store *rumor_node_store(struct rumor_node *node)
{
	return node->store;
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

struct rumor_node_relay *rumor_node_relay(struct rumor_node *node)
{
	return node->relay;
}

uint64_t rumor_node_uptime_s(const struct rumor_node *node)
{
	return (uv_now(node->loop) - node->start_ms) / 1000;
}

void rumor_node_get_pipeline(const struct rumor_node *node, struct rumor_node_pipeline *out)
{
	out->in_flight = node->in_flight.count;
	out->in_flight_bytes = node->in_flight_bytes;
	out->verify_queued =
		node->verify_queued + (node->verify ? rumor_workpool_pending(node->verify) : 0);
}

int rumor_node_stopping(const struct rumor_node *node)
{
	return node->stopping;
}
