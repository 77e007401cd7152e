/*
 * src/rpc_methods.c: the node's JSON-RPC surface.  One table row per method:
 * name, handler, named parameters, help.  Handlers validate their params
 * (-32602 with a message naming the parameter), then answer at once or, for
 * submissions, once the item is durable (node.h).
 */
#include "config.h"

#include "src/rpc_methods.h"

#include <assert.h>
#include <errno.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hex.h"
#include "crypto/item.h"
#include "net/message.h"
#include "rpc/http_server.h"
#include "src/log.h"
#include "src/metrics.h"
#include "src/node.h"
#include "src/peers.h"
#include "store/store.h"

/* addnode errors (the numbers bitcoind uses for the same cases). */
#define RPC_NODE_ALREADY_ADDED (-23)
#define RPC_NODE_NOT_ADDED (-24)

static void invalid_params(struct rumor_jsonrpc_call *call, const char *msg)
{
	rumor_jsonrpc_error(call, RUMOR_JSONRPC_INVALID_PARAMS, msg, NULL);
}

/* Checks the param count is in [min, max].  Returns 0 or answers and -1. */
static int want_params(struct rumor_jsonrpc_call *call, json_t *params, size_t min, size_t max,
		       const char *usage)
{
	size_t n = json_array_size(params);
	if (n < min || n > max) {
		char msg[256];
		snprintf(msg, sizeof(msg), "expected %s", usage);
		invalid_params(call, msg);
		return -1;
	}
	return 0;
}

/* Parses a 64-hex id param.  Returns 0 or answers and -1. */
static int id_param(struct rumor_jsonrpc_call *call, json_t *v, uint8_t id[RUMOR_ID_SIZE])
{
	if (!json_is_string(v) || json_string_length(v) != 64 ||
	    rumor_hex_decode(json_string_value(v), 64, id) != RUMOR_ID_SIZE) {
		invalid_params(call, "id must be a string of 64 hex characters");
		return -1;
	}
	return 0;
}

static json_t *hex_json(const uint8_t *bytes, size_t len)
{
	char *s = malloc(len * 2 + 1);
	if (!s)
		return NULL;
	rumor_hex_encode(bytes, len, s);
	json_t *j = json_stringn_nocheck(s, len * 2);
	free(s);
	return j;
}

/* ---- the caller ------------------------------------------------------ */

/* "IP:PORT" of the HTTP client whose request is being dispatched (set by
 * the node around rumor_jsonrpc_handle; methods run synchronously from it,
 * and those answering later copy it). */
static char current_caller[64] = "-";

void rumor_rpc_methods_set_caller(struct rumor_http_request *req)
{
	if (!req || rumor_http_request_peer(req, current_caller, sizeof(current_caller)) != 0)
		snprintf(current_caller, sizeof(current_caller), "-");
}

/* ---- submissions ----------------------------------------------------- */

struct rpc_submission {
	struct rumor_jsonrpc_call *call;
	enum rumor_item_kind kind;
	uint64_t start_ns; /* uv_hrtime() at receipt */
	char caller[64];
};

/* Logs a refused submission (info): what, who, why. */
static void log_refused(enum rumor_item_kind kind, const char *caller, const uint8_t *id,
			const char *reason)
{
	char idhex[65] = "-";
	if (id)
		rumor_hex_encode(id, RUMOR_ID_SIZE, idhex);
	log_info("rpc: rejected %s %.*s from %s: %s", rumor_item_kind_name(kind),
		 RUMOR_LOG_ID_SHORT, idhex, caller, reason);
}

static void on_submitted(void *arg, enum rumor_submit_status status, const char *reason,
			 const uint8_t *id)
{
	struct rpc_submission *rs = arg;
	struct rumor_jsonrpc_call *call = rs->call;
	enum rumor_item_kind kind = rs->kind;
	rumor_metrics_submitted(kind, RUMOR_METRICS_RPC, status, rs->start_ns);
	switch (status) {
	case RUMOR_SUBMIT_ACCEPTED:
	case RUMOR_SUBMIT_KNOWN:
		break;
	case RUMOR_SUBMIT_EDECODE:
	case RUMOR_SUBMIT_EREJECT:
		log_refused(kind, rs->caller, id, reason ? reason : "invalid");
		break;
	case RUMOR_SUBMIT_ESTORE:
	case RUMOR_SUBMIT_EBUSY:
	case RUMOR_SUBMIT_ESHUTDOWN:
		log_refused(kind, rs->caller, id, reason ? reason : "not stored");
		break;
	}
	free(rs);
	switch (status) {
	case RUMOR_SUBMIT_ACCEPTED:
	case RUMOR_SUBMIT_KNOWN:
		rumor_jsonrpc_reply(call, hex_json(id, RUMOR_ID_SIZE));
		return;
	case RUMOR_SUBMIT_EDECODE:
		rumor_jsonrpc_error(call, RUMOR_RPC_DECODE_ERROR, reason, NULL);
		return;
	case RUMOR_SUBMIT_EREJECT:
		rumor_jsonrpc_error(call, RUMOR_RPC_REJECTED, reason, NULL);
		return;
	case RUMOR_SUBMIT_ESTORE:
		rumor_jsonrpc_error(call, RUMOR_RPC_DATABASE_ERROR, reason, NULL);
		return;
	case RUMOR_SUBMIT_EBUSY:
	case RUMOR_SUBMIT_ESHUTDOWN:
		rumor_jsonrpc_error(call, RUMOR_RPC_MISC_ERROR, reason, NULL);
		return;
	}
	rumor_jsonrpc_error(call, RUMOR_JSONRPC_INTERNAL_ERROR, "unknown submission status", NULL);
}

/* A submission refused before it reached the node (not hex, too long). */
static void refuse_early(struct rumor_jsonrpc_call *call, enum rumor_item_kind kind,
			 const char *reason)
{
	rumor_metrics_item(kind, RUMOR_METRICS_RPC, RUMOR_METRICS_INVALID);
	log_refused(kind, current_caller, NULL, reason);
	rumor_jsonrpc_error(call, RUMOR_RPC_DECODE_ERROR, reason, NULL);
}

static void submit(struct rumor_jsonrpc_call *call, json_t *params, void *ctx,
		   enum rumor_item_kind kind)
{
	struct rumor_node *node = ctx;
	if (want_params(call, params, 1, 1, "one parameter: the item as a hex string"))
		return;
	json_t *v = json_array_get(params, 0);
	if (!json_is_string(v)) {
		invalid_params(call, "hexstring must be a string");
		return;
	}
	size_t hexlen = json_string_length(v);
	size_t limit = kind == RUMOR_ITEM_TX ? RUMOR_TX_SIZE_MAX : RUMOR_BLOCK_SIZE_MAX;
	if (hexlen % 2 != 0) {
		refuse_early(call, kind, "hex string has an odd number of characters");
		return;
	}
	if (hexlen / 2 > limit) {
		refuse_early(call, kind,
			     kind == RUMOR_ITEM_TX ? "transaction exceeds the largest allowed size"
						   : "block exceeds 4 MiB");
		return;
	}
	uint8_t *bytes = malloc(hexlen / 2 + 1);
	if (!bytes) {
		rumor_jsonrpc_error(call, RUMOR_RPC_MISC_ERROR, "out of memory", NULL);
		return;
	}
	long n = rumor_hex_decode(json_string_value(v), hexlen, bytes);
	if (n < 0) {
		free(bytes);
		refuse_early(call, kind, "not a hex string (only 0-9, a-f, A-F allowed)");
		return;
	}
	struct rpc_submission *rs = malloc(sizeof(*rs));
	if (!rs) {
		free(bytes);
		rumor_jsonrpc_error(call, RUMOR_RPC_MISC_ERROR, "out of memory", NULL);
		return;
	}
	rs->call = call;
	rs->kind = kind;
	rs->start_ns = uv_hrtime();
	snprintf(rs->caller, sizeof(rs->caller), "%s", current_caller);
	rumor_node_submit(node, bytes, (size_t)n, kind, "rpc", NULL, on_submitted, rs);
	free(bytes);
}

static void m_sendrawtransaction(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	submit(call, params, ctx, RUMOR_ITEM_TX);
}

static void m_submitblock(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	submit(call, params, ctx, RUMOR_ITEM_BLOCK);
}

/* ---- queries --------------------------------------------------------- */

/* Looks up an item of the wanted kind (0: any).  Returns 0 or answers and -1. */
static int lookup(struct rumor_jsonrpc_call *call, struct rumor_node *node, json_t *idv,
		  int kind, int want_encoding, struct rumor_store_item *out,
		  uint8_t id[RUMOR_ID_SIZE])
{
	if (id_param(call, idv, id))
		return -1;
	struct rumor_store *store = rumor_node_store(node);
	int rc = store ? rumor_store_get(store, id, out, want_encoding) : RUMOR_STORE_ECLOSED;
	if (rc == RUMOR_STORE_ENOTFOUND) {
		rumor_jsonrpc_error(call, RUMOR_RPC_NOT_FOUND, "no item with that id", NULL);
		return -1;
	}
	if (rc != 0) {
		rumor_jsonrpc_error(call, RUMOR_RPC_DATABASE_ERROR, rumor_store_strerror(rc), NULL);
		return -1;
	}
	if (kind && (int)out->kind != kind) {
		free(out->encoding);
		rumor_jsonrpc_error(call, RUMOR_RPC_NOT_FOUND,
				    kind == RUMOR_ITEM_TX
					    ? "that id is a block, not a transaction (use getblock)"
					    : "that id is a transaction, not a block (use getrawtransaction)",
				    NULL);
		return -1;
	}
	return 0;
}

/* ---- reads off the loop thread ---- */

/* getrawtransaction and getblock find the item's kind and size on the loop
 * (one index lookup: the encoding is not read), so that not-found and
 * wrong-kind answers come at once; then the encoding is read on the
 * store's reader thread, which also writes the answer text (8 MiB of hex,
 * or the verbose object, for a 4 MiB block), and the loop only copies that
 * text into the answer.  The call holds its answer's size of the
 * request's budget meanwhile (rumor_jsonrpc_call_reserve), so a batch of
 * 1000 getblock calls reads at most about the budget's worth of blocks. */
enum { ANSWER_HEX = 0, ANSWER_BLOCK_JSON = 1 };

static char *block_json_text(const struct rumor_item *item, size_t *len);

struct item_read {
	struct rumor_store_read read;
	struct rumor_jsonrpc_call *call;
	int answer; /* ANSWER_HEX or ANSWER_BLOCK_JSON */
	const char *why; /* work failed: why (static text) */
};

/* The reader thread: the answer text from the encoding. */
static void item_read_work(struct rumor_store_read *read)
{
	struct item_read *r = read->data;
	uint8_t *enc = read->item.encoding;
	size_t size = read->item.size;
	char *text = NULL;
	size_t len = 0;

	if (!enc) {
		r->why = "out of memory";
		return;
	}
	if (r->answer == ANSWER_HEX) {
		text = malloc(2 * size + 3);
		if (text) {
			text[0] = '"';
			rumor_hex_encode(enc, size, text + 1); /* writes a NUL too */
			text[2 * size + 1] = '"';
			len = 2 * size + 2;
		} else {
			r->why = "out of memory";
		}
	} else {
		struct rumor_item item;
		if (rumor_item_decode(&item, enc, size))
			r->why = "stored block does not decode (database damaged?)";
		else if (!(text = block_json_text(&item, &len)))
			r->why = "out of memory";
	}
	free(enc);
	read->item.encoding = NULL;
	read->result = text;
	read->result_len = len;
}

static void item_read_done(struct rumor_store_read *read, int status)
{
	struct item_read *r = read->data;

	if (status == 0 && read->result)
		rumor_jsonrpc_reply_json(r->call, read->result, read->result_len);
	else if (status == 0)
		rumor_jsonrpc_error(r->call,
				    strcmp(r->why, "out of memory") == 0 ? RUMOR_RPC_MISC_ERROR
									 : RUMOR_RPC_DATABASE_ERROR,
				    r->why, NULL);
	else if (status == RUMOR_STORE_ENOTFOUND)
		rumor_jsonrpc_error(r->call, RUMOR_RPC_NOT_FOUND, "no item with that id", NULL);
	else
		rumor_jsonrpc_error(r->call,
				    status == -ENOMEM ? RUMOR_RPC_MISC_ERROR : RUMOR_RPC_DATABASE_ERROR,
				    rumor_store_strerror(status), NULL);
	free(read->item.encoding);
	free(read->result);
	free(r);
}

/* Reads the item (of the size the loop's lookup found) off the loop and
 * answers with it. */
static void answer_later(struct rumor_jsonrpc_call *call, struct rumor_node *node,
			 const uint8_t id[RUMOR_ID_SIZE], size_t size, int answer)
{
	struct rumor_store *store = rumor_node_store(node);
	struct item_read *r = calloc(1, sizeof(*r));
	if (!r) {
		rumor_jsonrpc_error(call, RUMOR_RPC_MISC_ERROR, "out of memory", NULL);
		return;
	}
	memcpy(r->read.id, id, RUMOR_ID_SIZE);
	r->read.want_encoding = 1;
	r->read.work = item_read_work;
	r->read.cb = item_read_done;
	r->read.data = r;
	r->call = call;
	r->answer = answer;
	int rc = store ? rumor_store_read(store, &r->read) : RUMOR_STORE_ECLOSED;
	if (rc != 0) {
		free(r);
		rumor_jsonrpc_error(call, RUMOR_RPC_MISC_ERROR,
				    rc == -EAGAIN ? "busy: too many reads queued; retry later"
						  : rumor_store_strerror(rc),
				    NULL);
		return;
	}
	/* the answer: the hex (2 bytes a byte) or the verbose object (67
	 * bytes for each 32-byte transaction id), plus the envelope */
	rumor_jsonrpc_call_reserve(call, (answer == ANSWER_HEX ? 2 * size : 3 * size) + 1024);
}

static void m_getrawtransaction(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	if (want_params(call, params, 1, 1, "one parameter: the transaction id"))
		return;
	struct rumor_store_item it;
	uint8_t id[RUMOR_ID_SIZE];
	if (lookup(call, ctx, json_array_get(params, 0), RUMOR_ITEM_TX, 0, &it, id))
		return;
	answer_later(call, ctx, id, it.size, ANSWER_HEX);
}

/* A block as getblock's verbose object, in compact JSON text written
 * directly: a 4 MiB block names 131 000 transactions, and a json_t per id
 * (then serialised twice) cost the loop thread about 100 ms; this is one
 * pass.  NULL when out of memory.  Keys as doc/rpc.md lists them. */
static char *block_json_text(const struct rumor_item *item, size_t *len)
{
	const struct rumor_block *b = &item->u.block;
	size_t cap = 1024 + (size_t)b->tx_count * (2 * RUMOR_ID_SIZE + 3);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	char id[65], magic[2 * RUMOR_MAGIC_SIZE + 1], prev[65], producer[65], root[65];
	rumor_hex_encode(item->id, 32, id);
	rumor_hex_encode(item->magic, RUMOR_MAGIC_SIZE, magic);
	rumor_hex_encode(b->prev, 32, prev);
	rumor_hex_encode(b->producer, 32, producer);
	rumor_hex_encode(b->merkle_root, 32, root);
	int n = snprintf(out, 1024,
			 "{\"id\":\"%s\",\"version\":%d,\"network_magic\":\"%s\",\"height\":%" JSON_INTEGER_FORMAT
			 ",\"prev\":\"%s\",\"timestamp\":%" JSON_INTEGER_FORMAT
			 ",\"producer\":\"%s\",\"merkle_root\":\"%s\",\"tx\":[",
			 id, (int)item->version, magic, (json_int_t)b->height, prev,
			 (json_int_t)b->timestamp, producer, root);
	assert(n > 0 && n < 1024);
	size_t o = (size_t)n;
	for (uint32_t i = 0; i < b->tx_count; i++) {
		if (i)
			out[o++] = ',';
		out[o++] = '"';
		rumor_hex_encode(b->tx_ids + 32 * (size_t)i, 32, out + o); /* writes a NUL too */
		o += 64;
		out[o++] = '"';
	}
	n = snprintf(out + o, cap - o, "],\"size\":%" JSON_INTEGER_FORMAT "}",
		     (json_int_t)item->size);
	assert(n > 0 && (size_t)n < cap - o);
	*len = o + (size_t)n;
	return out;
}

static void m_getblock(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	if (want_params(call, params, 1, 2, "parameters: id, optional verbose (boolean)"))
		return;
	int verbose = 1;
	json_t *vb = json_array_get(params, 1);
	if (vb && !json_is_null(vb)) {
		if (json_is_boolean(vb))
			verbose = json_is_true(vb);
		else if (json_is_integer(vb) && (json_integer_value(vb) == 0 ||
						 json_integer_value(vb) == 1))
			verbose = (int)json_integer_value(vb);
		else {
			invalid_params(call, "verbose must be true or false");
			return;
		}
	}
	struct rumor_store_item it;
	uint8_t id[RUMOR_ID_SIZE];
	if (lookup(call, ctx, json_array_get(params, 0), RUMOR_ITEM_BLOCK, 0, &it, id))
		return;
	answer_later(call, ctx, id, it.size, verbose ? ANSWER_BLOCK_JSON : ANSWER_HEX);
}

static void m_getiteminfo(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	if (want_params(call, params, 1, 1, "one parameter: the item id"))
		return;
	struct rumor_store_item it;
	uint8_t id[RUMOR_ID_SIZE];
	if (lookup(call, ctx, json_array_get(params, 0), 0, 0, &it, id))
		return;
	json_t *o = json_object();
	json_object_set_new(o, "kind", json_string(rumor_item_kind_name(it.kind)));
	json_object_set_new(o, "size", json_integer((json_int_t)it.size));
	json_object_set_new(o, "first_seen_us", json_integer((json_int_t)it.first_seen_us));
	json_object_set_new(o, "source", json_string(it.source));
	if (it.has_peer) {
		char buf[65];
		rumor_hex_encode(it.peer, 32, buf);
		json_object_set_new(o, "peer", json_string(buf));
	}
	rumor_jsonrpc_reply(call, o);
}

static void m_getinfo(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	struct rumor_node *node = ctx;
	if (want_params(call, params, 0, 0, "no parameters"))
		return;
	uint64_t ntx = 0, nblock = 0;
	struct rumor_store *store = rumor_node_store(node);
	int rc = store ? rumor_store_counts(store, &ntx, &nblock) : RUMOR_STORE_ECLOSED;
	if (rc != 0) {
		rumor_jsonrpc_error(call, RUMOR_RPC_DATABASE_ERROR, rumor_store_strerror(rc), NULL);
		return;
	}
	char idhex[65];
	rumor_hex_encode(rumor_node_id(node), 32, idhex);
	json_t *o = json_object();
	json_object_set_new(o, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(o, "network", json_string(rumor_node_network(node)->name));
	json_object_set_new(o, "node_id", json_string(idhex));
	json_object_set_new(o, "items", json_pack("{s:I,s:I}", "tx", (json_int_t)ntx, "block",
						  (json_int_t)nblock));
	json_object_set_new(o, "uptime_s", json_integer((json_int_t)rumor_node_uptime_s(node)));
	json_object_set_new(o, "rpc_auth_failures",
			    json_integer((json_int_t)rumor_http_auth_failures_total()));
	struct rumor_peers_inbound_stats in;
	memset(&in, 0, sizeof(in));
	if (rumor_node_peers(node))
		rumor_peers_inbound_stats(rumor_node_peers(node), &in);
	json_object_set_new(
		o, "inbound",
		json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "peers", (json_int_t)in.ready_inbound,
			  "handshakes", (json_int_t)in.handshakes, "evicted", (json_int_t)in.evicted,
			  "refused_at_accept", (json_int_t)in.refused_at_accept, "refused_full",
			  (json_int_t)in.refused_full, "refused_discouraged",
			  (json_int_t)in.refused_discouraged, "discouraged",
			  (json_int_t)in.discouraged, "discouraged_total",
			  (json_int_t)in.discouraged_total, "accepts_deferred",
			  (json_int_t)in.accepts_deferred));
	rumor_jsonrpc_reply(call, o);
}

/* Wire bytes by message type name; slot 0 is the handshake; zeros omitted. */
static json_t *per_msg_json(const uint64_t *by_type)
{
	json_t *o = json_object();
	for (size_t i = 0; i < RUMOR_SESSION_STAT_SLOTS; i++) {
		if (by_type[i] == 0)
			continue;
		const char *name = i == 0 ? "handshake" : rumor_msg_type_name((uint16_t)i);
		if (name)
			json_object_set_new(o, name, json_integer((json_int_t)by_type[i]));
	}
	return o;
}

struct peer_list {
	json_t *list;
	struct rumor_node *node;
};

static void add_peer_json(void *arg, const struct rumor_peer_info *info)
{
	struct peer_list *pl = arg;
	json_t *list = pl->list;
	const struct rumor_session_stats *st = info->stats;
	char idhex[65];
	rumor_hex_encode(info->node_id, 32, idhex);
	json_t *ua = json_stringn((const char *)info->user_agent, info->user_agent_len);
	json_t *o = json_object();
	json_object_set_new(o, "node_id", json_string(idhex));
	json_object_set_new(o, "addr", json_string(info->addr));
	json_object_set_new(o, "inbound", json_boolean(info->inbound));
	json_object_set_new(o, "version", json_integer(info->version));
	json_object_set_new(o, "user_agent", ua ? ua : json_string(""));
	json_object_set_new(o, "bytes_sent", json_integer((json_int_t)st->bytes_sent));
	json_object_set_new(o, "bytes_recv", json_integer((json_int_t)st->bytes_recv));
	json_object_set_new(o, "bytes_sent_per_msg", per_msg_json(st->sent_by_type));
	json_object_set_new(o, "bytes_recv_per_msg", per_msg_json(st->recv_by_type));
	json_object_set_new(o, "conn_since_us", json_integer((json_int_t)info->conn_since_us));
	json_object_set_new(o, "ping_us", json_integer((json_int_t)st->ping_us));
	json_object_set_new(o, "netgroup", json_string(info->netgroup));
	json_object_set_new(o, "discouraged", json_boolean(info->discouraged));
	struct rumor_relay_peer_stats rs;
	memset(&rs, 0, sizeof(rs));
	rumor_node_peer_relay_stats(pl->node, info->peer, &rs);
	json_object_set_new(o, "announced_to_us", json_integer((json_int_t)rs.announced_to_us));
	json_object_set_new(o, "announced_by_us", json_integer((json_int_t)rs.announced_by_us));
	json_object_set_new(o, "requested", json_integer((json_int_t)rs.requested_from));
	json_object_set_new(o, "delivered", json_integer((json_int_t)rs.delivered));
	struct rumor_core_peer_budget pb;
	memset(&pb, 0, sizeof(pb));
	rumor_node_peer_budget(pl->node, info->peer, &pb);
	json_object_set_new(o, "read_paused", json_boolean(pb.paused));
	json_object_set_new(o, "read_pauses", json_integer((json_int_t)pb.pauses));
	json_object_set_new(o, "pipeline_items", json_integer((json_int_t)pb.pipeline_items));
	json_object_set_new(o, "serve_waiting", json_boolean(pb.serve_waiting));
	json_object_set_new(o, "serve_waits", json_integer((json_int_t)pb.serve_waits));
	json_array_append_new(list, o);
}

static void m_getpeerinfo(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	if (want_params(call, params, 0, 0, "no parameters"))
		return;
	struct peer_list pl = {json_array(), ctx};
	struct rumor_peers *peers = rumor_node_peers(ctx);
	if (peers)
		rumor_peers_foreach(peers, add_peer_json, &pl);
	rumor_jsonrpc_reply(call, pl.list);
}

static void m_getrelayinfo(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	if (want_params(call, params, 0, 0, "no parameters"))
		return;
	struct rumor_core_stats rs;
	rumor_node_core_stats(ctx, &rs);
	struct rumor_session_stats wire;
	memset(&wire, 0, sizeof(wire));
	struct rumor_peers *peers = rumor_node_peers(ctx);
	if (peers)
		rumor_peers_wire_totals(peers, &wire);
	json_t *o = json_object();
	json_object_set_new(
		o, "items_accepted",
		json_pack("{s:{s:I,s:I},s:{s:I,s:I}}", "by_kind", "tx", (json_int_t)rs.accepted_tx,
			  "block", (json_int_t)rs.accepted_block, "by_source", "rpc",
			  (json_int_t)rs.accepted_rpc, "peer", (json_int_t)rs.accepted_peer));
	json_object_set_new(o, "duplicates_received",
			    json_integer((json_int_t)rs.relay.duplicates_received));
	json_object_set_new(o, "invalid_received", json_integer((json_int_t)rs.invalid_received));
	json_object_set_new(o, "unrequested_received",
			    json_integer((json_int_t)rs.relay.unrequested_received));
	json_object_set_new(o, "requests_in_flight",
			    json_integer((json_int_t)rs.relay.requests_in_flight));
	json_object_set_new(o, "request_timeouts", json_integer((json_int_t)rs.relay.request_timeouts));
	json_object_set_new(o, "requests_sent", json_integer((json_int_t)rs.relay.requests_sent));
	json_object_set_new(o, "ids_tracked", json_integer((json_int_t)rs.relay.ids_tracked));
	json_object_set_new(o, "pending_blocks", json_integer((json_int_t)rs.pending_blocks));
	json_object_set_new(o, "orphan_blocks", json_integer((json_int_t)rs.orphan_blocks));
	json_object_set_new(o, "cache_items", json_integer((json_int_t)rs.cache_items));
	json_object_set_new(o, "cache_bytes", json_integer((json_int_t)rs.cache_bytes));
	json_object_set_new(o, "throttle_pauses", json_integer((json_int_t)rs.throttle_pauses));
	json_object_set_new(o, "throttle_closes", json_integer((json_int_t)rs.throttle_closes));
	json_object_set_new(o, "serve_blocked", json_integer((json_int_t)rs.serve_blocked));
	json_object_set_new(o, "serve_budget_waits",
			    json_integer((json_int_t)rs.serve_budget_waits));
	json_object_set_new(o, "getdata_duplicates",
			    json_integer((json_int_t)rs.getdata_duplicates));
	json_object_set_new(o, "bytes_sent", json_integer((json_int_t)wire.bytes_sent));
	json_object_set_new(o, "bytes_recv", json_integer((json_int_t)wire.bytes_recv));
	json_object_set_new(o, "bytes_sent_per_msg", per_msg_json(wire.sent_by_type));
	json_object_set_new(o, "bytes_recv_per_msg", per_msg_json(wire.recv_by_type));
	rumor_jsonrpc_reply(call, o);
}

static void m_addnode(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	if (want_params(call, params, 2, 2,
			"two parameters: \"[NODEID@]HOST:PORT\" and \"add\", \"remove\" or "
			"\"onetry\""))
		return;
	json_t *addr = json_array_get(params, 0), *cmd = json_array_get(params, 1);
	struct rumor_connect_target t;
	if (!json_is_string(addr) || json_string_length(addr) >= 512 ||
	    rumor_parse_connect(json_string_value(addr), &t)) {
		invalid_params(call, "node must be \"[NODEID@]HOST:PORT\" (NODEID: 64 hex "
				     "characters; port 1-65535; [IPv6]:PORT)");
		return;
	}
	const char *c = json_is_string(cmd) ? json_string_value(cmd) : "";
	int add = strcmp(c, "add") == 0, onetry = strcmp(c, "onetry") == 0;
	if (!add && !onetry && strcmp(c, "remove") != 0) {
		invalid_params(call, "command must be \"add\", \"remove\" or \"onetry\"");
		return;
	}
	struct rumor_peers *peers = rumor_node_peers(ctx);
	if (!peers) {
		rumor_jsonrpc_error(call, RUMOR_RPC_MISC_ERROR, "node is shutting down", NULL);
		return;
	}
	int rc = add || onetry ? rumor_node_add_target(ctx, &t, onetry)
			       : rumor_node_remove_target(ctx, &t);
	switch (rc) {
	case 0:
		rumor_jsonrpc_reply(call, json_null());
		return;
	case -EEXIST:
		rumor_jsonrpc_error(call, RPC_NODE_ALREADY_ADDED, "node already added", NULL);
		return;
	case -ENOENT:
		rumor_jsonrpc_error(call, RPC_NODE_NOT_ADDED, "node has not been added", NULL);
		return;
	case -ENOSPC:
		rumor_jsonrpc_error(call, RUMOR_RPC_MISC_ERROR, "too many added nodes (at most 256)",
				    NULL);
		return;
	case -ESHUTDOWN:
		rumor_jsonrpc_error(call, RUMOR_RPC_MISC_ERROR, "node is shutting down", NULL);
		return;
	default:
		rumor_jsonrpc_error(call, RUMOR_RPC_MISC_ERROR, strerror(-rc), NULL);
		return;
	}
}

static void m_disconnectnode(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	if (want_params(call, params, 1, 1, "one parameter: the node id"))
		return;
	uint8_t id[32];
	json_t *v = json_array_get(params, 0);
	if (!json_is_string(v) || json_string_length(v) != 64 ||
	    rumor_hex_decode(json_string_value(v), 64, id) != 32) {
		invalid_params(call, "nodeid must be a string of 64 hex characters");
		return;
	}
	if (rumor_node_disconnect(ctx, id) != 0) {
		rumor_jsonrpc_error(call, RUMOR_RPC_NOT_FOUND, "node is not connected", NULL);
		return;
	}
	rumor_jsonrpc_reply(call, json_null());
}

static void m_stop(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	if (want_params(call, params, 0, 0, "no parameters"))
		return;
	log_info("stop requested over RPC by %s", current_caller);
	rumor_jsonrpc_reply(call, json_string("rumord stopping"));
	rumor_node_request_stop(ctx);
}

static void m_help(struct rumor_jsonrpc_call *call, json_t *params, void *ctx);

static const char *const p_hex[] = {"hexstring", NULL};
static const char *const p_id[] = {"id", NULL};
static const char *const p_getblock[] = {"id", "verbose", NULL};
static const char *const p_help[] = {"method", NULL};
static const char *const p_addnode[] = {"node", "command", NULL};
static const char *const p_nodeid[] = {"nodeid", NULL};
static const char *const p_none[] = {NULL};

static const struct rumor_jsonrpc_method methods[] = {
	{"addnode", m_addnode, p_addnode,
	 "addnode \"[NODEID@]HOST:PORT\" \"add|remove|onetry\"\n"
	 "add: keep a connection to this peer (redialled when it drops, like --addnode);\n"
	 "remove: forget an added peer and disconnect it; onetry: dial it once.\n"
	 "Returns null.  Errors: -23 already added, -24 not added."},
	{"disconnectnode", m_disconnectnode, p_nodeid,
	 "disconnectnode \"nodeid\"\n"
	 "Closes the connection to that node (an added peer is dialled again).\n"
	 "Returns null; error -5 when it is not connected."},
	{"getblock", m_getblock, p_getblock,
	 "getblock \"id\" ( verbose )\n"
	 "Returns a stored block: an object (verbose true, the default) or its hex (false)."},
	{"getinfo", m_getinfo, p_none,
	 "getinfo\nReturns version, network, node_id, item counts, uptime_s,\n"
	 "rpc_auth_failures (failed RPC authentications since start) and inbound\n"
	 "(inbound slots: peers, handshakes, evicted, refused_*, discouraged)."},
	{"getiteminfo", m_getiteminfo, p_id,
	 "getiteminfo \"id\"\nReturns kind, size, first_seen_us and source of a stored item."},
	{"getpeerinfo", m_getpeerinfo, p_none,
	 "getpeerinfo\n"
	 "Returns an array with one object per connected peer (handshake and hello done):\n"
	 "node_id, addr, inbound, version, user_agent, bytes_sent, bytes_recv,\n"
	 "bytes_sent_per_msg, bytes_recv_per_msg, conn_since_us, ping_us, netgroup,\n"
	 "discouraged, and the relay's\n"
	 "announced_to_us, announced_by_us, requested and delivered (item counts)."},
	{"getrawtransaction", m_getrawtransaction, p_id,
	 "getrawtransaction \"id\"\nReturns a stored transaction as hex."},
	{"getrelayinfo", m_getrelayinfo, p_none,
	 "getrelayinfo\n"
	 "Returns relay counters: items_accepted (by_kind, by_source), duplicates_received,\n"
	 "invalid_received, requests_in_flight, request_timeouts, and bytes_sent,\n"
	 "bytes_recv, bytes_sent_per_msg, bytes_recv_per_msg over all peers since start."},
	{"help", m_help, p_help,
	 "help ( \"method\" )\nLists the methods, or explains one."},
	{"sendrawtransaction", m_sendrawtransaction, p_hex,
	 "sendrawtransaction \"hexstring\"\n"
	 "Validates and stores a signed transaction; returns its id once it is durable.\n"
	 "Submitting a transaction the node already has returns its id again."},
	{"stop", m_stop, p_none, "stop\nShuts the node down cleanly."},
	{"submitblock", m_submitblock, p_hex,
	 "submitblock \"hexstring\"\n"
	 "Validates and stores a signed block; returns its id once it is durable."},
};

static void m_help(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	(void)ctx;
	if (want_params(call, params, 0, 1, "at most one parameter: a method name"))
		return;
	json_t *name = json_array_get(params, 0);
	if (name && !json_is_null(name)) {
		if (!json_is_string(name)) {
			invalid_params(call, "method must be a string");
			return;
		}
		for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
			if (strcmp(methods[i].name, json_string_value(name)) == 0) {
				rumor_jsonrpc_reply(call, json_string(methods[i].help));
				return;
			}
		}
		invalid_params(call, "unknown method (call help for the list)");
		return;
	}
	size_t cap = 4096, len = 0;
	char *text = malloc(cap);
	if (!text) {
		rumor_jsonrpc_error(call, RUMOR_RPC_MISC_ERROR, "out of memory", NULL);
		return;
	}
	text[0] = '\0';
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		const char *h = methods[i].help;
		size_t first = strcspn(h, "\n");
		int w = snprintf(text + len, cap - len, "%.*s\n", (int)first, h);
		if (w > 0 && (size_t)w < cap - len)
			len += (size_t)w;
	}
	if (len)
		text[len - 1] = '\0';
	rumor_jsonrpc_reply(call, json_string(text));
	free(text);
}

/* A batch runs in slices (rpc/jsonrpc.h), each in its own loop turn, so one
 * expensive batch (e.g. 1000 getblock calls) does not stall other clients
 * and peers.  The node's HTTP glue (src/node.c on_http_request) hands each
 * request to rumor_jsonrpc_handle with its struct rumor_http_request as the
 * done arg; rumor_http_request_defer checks that it is one. */
static int defer_on_loop(void *done_arg, void (*fn)(void *), void *fn_arg)
{
	return rumor_http_request_defer(done_arg, fn, fn_arg);
}

static void log_rpc_event(const char *message)
{
	log_warn("%s", message);
}

void rumor_rpc_methods_setup(struct rumor_jsonrpc_server *server, struct rumor_node *node)
{
	server->methods = methods;
	server->n_methods = sizeof(methods) / sizeof(methods[0]);
	server->ctx = node;
	server->defer = defer_on_loop;
	rumor_http_set_log(log_rpc_event);
#ifdef HAVE_MALLOC_TRIM
	/* Big RPC buffers (request bodies up to --rpcmaxbody, answers up to
	 * 32 MiB) come from the heap and are reused by the next request,
	 * instead of a fresh mmap whose every page faults in again: on a
	 * virtual machine that cost more than building the answer.  The HTTP
	 * layer gives free heap back (malloc_trim) once more than 128 MiB of it
	 * is free, so RSS stays bounded. */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
#endif
}
