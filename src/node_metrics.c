/*
 * src/node_metrics.c: see node_metrics.h.
 */
#include "config.h"

#include "src/node_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "crypto/item.h"
#include "net/message.h"
#include "net/session.h"
#include "rpc/http_server.h"
#include "src/metrics.h"
#include "src/node.h"
#include "src/peers.h"
#include "store/store.h"

struct peer_counts {
	uint64_t inbound, outbound;
};

static void count_peer(void *arg, const struct rumor_peer_info *info)
{
	struct peer_counts *pc = arg;
	if (info->inbound)
		pc->inbound++;
	else
		pc->outbound++;
}

/* Resident set size from /proc/self/statm (pages); 0 when unreadable. */
static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	unsigned long long size = 0, resident = 0;
	int n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (n != 2)
		return 0;
	long page = sysconf(_SC_PAGESIZE);
	return resident * (uint64_t)(page > 0 ? page : 4096);
}

static void items(struct rumor_metrics_text *t)
{
	rumor_metrics_family(t, "rumor_items_total", "counter",
			     "Items received, by kind, source (rpc or peer) and result (accepted: "
			     "new and stored; duplicate: already had it; invalid: undecodable or "
			     "a rule failed; failed: busy, store error or shutdown).");
	static const int kinds[] = {RUMOR_ITEM_TX, RUMOR_ITEM_BLOCK};
	for (size_t k = 0; k < 2; k++)
		for (int s = 0; s < RUMOR_METRICS_SOURCES; s++)
			for (int r = 0; r < RUMOR_METRICS_RESULTS; r++) {
				const char *labels[] = {
					"kind", rumor_item_kind_name(kinds[k]),
					"source", rumor_metrics_source_name(s),
					"result", rumor_metrics_result_name(r), NULL};
				rumor_metrics_sample_u64(t, "rumor_items_total",
							 rumor_metrics_item_count(kinds[k], s, r),
							 labels);
			}
	rumor_metrics_family(t, "rumor_item_store_latency_seconds", "histogram",
			     "From handing an accepted item to the node (RPC request parsed, or "
			     "peer message received; a block held for its transactions or "
			     "parent: once released) to its answer after the store commit.");
	for (int s = 0; s < RUMOR_METRICS_SOURCES; s++) {
		struct rumor_metrics_histogram h;
		rumor_metrics_item_stored_histogram(s, &h);
		const char *labels[] = {"source", rumor_metrics_source_name(s), NULL};
		rumor_metrics_histogram_us(t, "rumor_item_store_latency_seconds",
					   rumor_metrics_latency_bounds_us,
					   RUMOR_METRICS_LATENCY_BUCKETS - 1, h.counts, h.sum_us,
					   labels);
	}
}

static void wire(struct rumor_metrics_text *t, struct rumor_peers *peers)
{
	struct rumor_session_stats st;
	memset(&st, 0, sizeof(st));
	if (peers)
		rumor_peers_wire_totals(peers, &st);
	rumor_metrics_family(t, "rumor_p2p_sent_bytes_total", "counter",
			     "Bytes sent to peers (framed and encrypted), by message type "
			     "(handshake: the Noise handshake).");
	for (int dir = 0; dir < 2; dir++) {
		if (dir == 1)
			rumor_metrics_family(t, "rumor_p2p_received_bytes_total", "counter",
					     "Bytes received from peers, by message type.");
		const char *name = dir ? "rumor_p2p_received_bytes_total"
				       : "rumor_p2p_sent_bytes_total";
		const uint64_t *by = dir ? st.recv_by_type : st.sent_by_type;
		for (int type = 0; type < RUMOR_SESSION_STAT_SLOTS; type++) {
			const char *tn = type == 0 ? "handshake" : rumor_msg_type_name((uint16_t)type);
			if (!tn)
				continue;
			const char *labels[] = {"type", tn, NULL};
			rumor_metrics_sample_u64(t, name, by[type], labels);
		}
	}
	rumor_metrics_family(t, "rumor_p2p_messages_sent_total", "counter",
			     "Messages sent to peers.");
	rumor_metrics_sample_u64(t, "rumor_p2p_messages_sent_total", st.msgs_sent, NULL);
	rumor_metrics_family(t, "rumor_p2p_messages_received_total", "counter",
			     "Messages received from peers.");
	rumor_metrics_sample_u64(t, "rumor_p2p_messages_received_total", st.msgs_recv, NULL);

	struct peer_counts pc = {0, 0};
	if (peers)
		rumor_peers_foreach(peers, count_peer, &pc);
	rumor_metrics_family(t, "rumor_peers", "gauge",
			     "Peer connections past the handshake, by direction.");
	const char *in[] = {"direction", "inbound", NULL};
	const char *out[] = {"direction", "outbound", NULL};
	rumor_metrics_sample_u64(t, "rumor_peers", pc.inbound, in);
	rumor_metrics_sample_u64(t, "rumor_peers", pc.outbound, out);

	struct rumor_peers_inbound_stats is;
	memset(&is, 0, sizeof(is));
	if (peers)
		rumor_peers_inbound_stats(peers, &is);
	rumor_metrics_family(t, "rumor_p2p_inbound_handshakes", "gauge",
			     "Inbound connections still in the handshake (getinfo inbound.handshakes).");
	rumor_metrics_sample_u64(t, "rumor_p2p_inbound_handshakes", is.handshakes, NULL);
	rumor_metrics_family(t, "rumor_p2p_inbound_evicted_total", "counter",
			     "Inbound peers evicted to make room for a newcomer (getinfo inbound.evicted).");
	rumor_metrics_sample_u64(t, "rumor_p2p_inbound_evicted_total", is.evicted, NULL);
	rumor_metrics_family(t, "rumor_p2p_inbound_refused_total", "counter",
			     "Inbound connections refused, by stage (getinfo inbound.refused_*).");
	const char *r_accept[] = {"stage", "accept", NULL};
	const char *r_full[] = {"stage", "full", NULL};
	const char *r_disc[] = {"stage", "discouraged", NULL};
	rumor_metrics_sample_u64(t, "rumor_p2p_inbound_refused_total", is.refused_at_accept,
				 r_accept);
	rumor_metrics_sample_u64(t, "rumor_p2p_inbound_refused_total", is.refused_full, r_full);
	rumor_metrics_sample_u64(t, "rumor_p2p_inbound_refused_total", is.refused_discouraged,
				 r_disc);
	rumor_metrics_family(t, "rumor_p2p_inbound_accepts_deferred_total", "counter",
			     "Loop turns whose inbound accepts reached the per-turn cap (getinfo inbound.accepts_deferred).");
	rumor_metrics_sample_u64(t, "rumor_p2p_inbound_accepts_deferred_total", is.accepts_deferred,
				 NULL);
	rumor_metrics_family(t, "rumor_p2p_discouraged_addresses", "gauge",
			     "Addresses discouraged now for breaking a protocol rule (getinfo inbound.discouraged).");
	rumor_metrics_sample_u64(t, "rumor_p2p_discouraged_addresses", is.discouraged, NULL);
}

/* The node core's counters (net/core.h), the ones getrelayinfo shows. */
static void relay(struct rumor_metrics_text *t, struct rumor_node *node)
{
	struct rumor_core_stats rs;
	rumor_node_core_stats(node, &rs);
	rumor_metrics_family(t, "rumor_relay_requests_in_flight", "gauge",
			     "Items requested from peers (getdata) and not yet received.");
	rumor_metrics_sample_u64(t, "rumor_relay_requests_in_flight", rs.relay.requests_in_flight,
				 NULL);
	rumor_metrics_family(t, "rumor_relay_requests_total", "counter",
			     "Items requested from peers (getdata entries sent).");
	rumor_metrics_sample_u64(t, "rumor_relay_requests_total", rs.relay.requests_sent, NULL);
	rumor_metrics_family(t, "rumor_relay_request_timeouts_total", "counter",
			     "Requests a peer did not answer in time (asked again elsewhere).");
	rumor_metrics_sample_u64(t, "rumor_relay_request_timeouts_total",
				 rs.relay.request_timeouts, NULL);
	rumor_metrics_family(t, "rumor_peer_read_pauses_total", "counter",
			     "Times a peer went over its message budget and was not read until "
			     "it was repaid.");
	rumor_metrics_sample_u64(t, "rumor_peer_read_pauses_total", rs.throttle_pauses, NULL);
	rumor_metrics_family(t, "rumor_peer_budget_disconnects_total", "counter",
			     "Peers disconnected for staying over their message budget.");
	rumor_metrics_sample_u64(t, "rumor_peer_budget_disconnects_total", rs.throttle_closes,
				 NULL);
	rumor_metrics_family(t, "rumor_peer_serve_budget_waits_total", "counter",
			     "Times getdata serving to a peer waited for its serving budget.");
	rumor_metrics_sample_u64(t, "rumor_peer_serve_budget_waits_total", rs.serve_budget_waits,
				 NULL);
	rumor_metrics_family(t, "rumor_getdata_duplicates_total", "counter",
			     "getdata entries skipped: the id was named earlier in the same message.");
	rumor_metrics_sample_u64(t, "rumor_getdata_duplicates_total", rs.getdata_duplicates,
				 NULL);
	rumor_metrics_family(t, "rumor_relay_ids_tracked", "gauge",
			     "Ids announced by peers and not yet received.");
	rumor_metrics_sample_u64(t, "rumor_relay_ids_tracked", rs.relay.ids_tracked, NULL);
	rumor_metrics_family(t, "rumor_relay_announcements_ignored_total", "counter",
			     "Announcements over the per-peer or per-id limits.");
	rumor_metrics_sample_u64(t, "rumor_relay_announcements_ignored_total",
				 rs.relay.announcements_ignored, NULL);
	rumor_metrics_family(t, "rumor_relay_blocks_waiting", "gauge",
			     "Blocks held for missing transactions (pending) or a missing "
			     "parent (orphan).");
	const char *pend[] = {"pool", "pending", NULL};
	const char *orph[] = {"pool", "orphan", NULL};
	rumor_metrics_sample_u64(t, "rumor_relay_blocks_waiting", rs.pending_blocks, pend);
	rumor_metrics_sample_u64(t, "rumor_relay_blocks_waiting", rs.orphan_blocks, orph);
	rumor_metrics_family(t, "rumor_relay_cache_bytes", "gauge",
			     "Bytes of recently accepted items kept in memory for getdata.");
	rumor_metrics_sample_u64(t, "rumor_relay_cache_bytes", rs.cache_bytes, NULL);
}

static void store(struct rumor_metrics_text *t, struct rumor_store *st)
{
	struct rumor_store_stats ss;
	memset(&ss, 0, sizeof(ss));
	uint64_t ntx = 0, nblock = 0;
	if (st) {
		rumor_store_get_stats(st, &ss);
		rumor_store_counts(st, &ntx, &nblock);
	}
	rumor_metrics_family(t, "rumor_store_items", "gauge", "Items in the store, by kind.");
	const char *tx[] = {"kind", "tx", NULL};
	const char *block[] = {"kind", "block", NULL};
	rumor_metrics_sample_u64(t, "rumor_store_items", ntx, tx);
	rumor_metrics_sample_u64(t, "rumor_store_items", nblock, block);
	rumor_metrics_family(t, "rumor_store_commits_total", "counter",
			     "Write transactions committed (each holds one or more items).");
	rumor_metrics_sample_u64(t, "rumor_store_commits_total", ss.commits, NULL);
	rumor_metrics_family(t, "rumor_store_lazy_commits_total", "counter",
			     "Commits made only of relayed items, not synced at once.");
	rumor_metrics_sample_u64(t, "rumor_store_lazy_commits_total", ss.lazy_commits, NULL);
	rumor_metrics_family(t, "rumor_store_write_errors_total", "counter",
			     "Item writes that failed with an I/O or database error.");
	rumor_metrics_sample_u64(t, "rumor_store_write_errors_total", ss.write_errors, NULL);
	rumor_metrics_family(t, "rumor_store_checkpoints_total", "counter",
			     "WAL checkpoints.");
	rumor_metrics_sample_u64(t, "rumor_store_checkpoints_total",
				 ss.checkpoints + ss.writer_checkpoints, NULL);
	rumor_metrics_family(t, "rumor_store_commit_duration_seconds", "histogram",
			     "How long each write transaction took on the writer thread, BEGIN "
			     "to COMMIT (with its fsync when synced).");
	rumor_metrics_histogram_us(t, "rumor_store_commit_duration_seconds",
				   rumor_store_commit_bounds_us, RUMOR_STORE_COMMIT_BUCKETS - 1,
				   ss.commit_us_buckets, ss.commit_us_sum, NULL);
}

/* The JSON-RPC port's HTTP server (rpc/http_server.h stats): what an
 * operator watches when clients are refused, evicted or time out. */
static void rpc(struct rumor_metrics_text *t, struct rumor_node *node)
{
	struct rumor_http_stats st;
	rumor_node_rpc_stats(node, &st);
	rumor_metrics_family(t, "rumor_rpc_clients", "gauge", "RPC connections open now.");
	rumor_metrics_sample_u64(t, "rumor_rpc_clients", st.clients, NULL);
	rumor_metrics_family(t, "rumor_rpc_connections_total", "counter",
			     "RPC connections, by result (accepted; refused: over --rpcmaxclients "
			     "with none to evict; evicted: an unauthenticated one closed to make "
			     "room).");
	const struct {
		const char *result;
		uint64_t n;
	} conns[] = {{"accepted", st.connections_accepted},
		     {"refused", st.connections_refused},
		     {"evicted", st.connections_evicted}};
	for (size_t i = 0; i < sizeof(conns) / sizeof(conns[0]); i++) {
		const char *labels[] = {"result", conns[i].result, NULL};
		rumor_metrics_sample_u64(t, "rumor_rpc_connections_total", conns[i].n, labels);
	}
	rumor_metrics_family(t, "rumor_rpc_accepts_deferred_total", "counter",
			     "Loop turns whose accept cap (a quarter of --rpcmaxclients) left "
			     "connections in the listen backlog for the next turn.");
	rumor_metrics_sample_u64(t, "rumor_rpc_accepts_deferred_total", st.accepts_deferred, NULL);
	rumor_metrics_family(t, "rumor_rpc_requests_total", "counter",
			     "HTTP requests read on the RPC port (all), and those answered with an "
			     "HTTP error other than 401 and 408: malformed or oversize input (bad).");
	const char *all[] = {"result", "all", NULL}, *bad[] = {"result", "bad", NULL};
	rumor_metrics_sample_u64(t, "rumor_rpc_requests_total", st.requests, all);
	rumor_metrics_sample_u64(t, "rumor_rpc_requests_total", st.bad_requests, bad);
	rumor_metrics_family(t, "rumor_rpc_json_refused_total", "counter",
			     "Request bodies refused while arriving, past a JSON limit.");
	rumor_metrics_sample_u64(t, "rumor_rpc_json_refused_total", st.json_refused, NULL);
	rumor_metrics_family(t, "rumor_rpc_timeouts_total", "counter",
			     "RPC requests answered 408, by what was late (headers: not complete "
			     "in time; body: shorter than its Content-Length).");
	const char *hdr[] = {"phase", "headers", NULL}, *body[] = {"phase", "body", NULL};
	rumor_metrics_sample_u64(t, "rumor_rpc_timeouts_total", st.header_timeouts, hdr);
	rumor_metrics_sample_u64(t, "rumor_rpc_timeouts_total", st.body_timeouts, body);
}

static void process(struct rumor_metrics_text *t, struct rumor_node *node)
{
	struct rusage ru;
	double cpu = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	rumor_metrics_family(t, "rumor_process_cpu_seconds_total", "counter",
			     "User and system CPU time of the rumord process.");
	rumor_metrics_sample_double(t, "rumor_process_cpu_seconds_total", cpu, NULL);
	rumor_metrics_family(t, "rumor_process_resident_memory_bytes", "gauge",
			     "Resident set size of the rumord process.");
	rumor_metrics_sample_u64(t, "rumor_process_resident_memory_bytes", rss_bytes(), NULL);
	rumor_metrics_family(t, "rumor_rpc_auth_failures_total", "counter",
			     "RPC requests refused for bad or missing credentials (getinfo rpc_auth_failures).");
	rumor_metrics_sample_u64(t, "rumor_rpc_auth_failures_total", rumor_http_auth_failures_total(),
				 NULL);
	rpc(t, node);
	rumor_metrics_family(t, "rumor_uptime_seconds", "gauge", "Seconds since the node started.");
	rumor_metrics_sample_u64(t, "rumor_uptime_seconds", rumor_node_uptime_s(node), NULL);
}

static char *render_metrics(struct rumor_node *node, size_t *len)
{
	struct rumor_metrics_text t;
	rumor_metrics_text_init(&t);
	rumor_metrics_family(&t, "rumor_up", "gauge",
			     "1 while the node serves, 0 once it is shutting down.");
	rumor_metrics_sample_u64(&t, "rumor_up", !rumor_node_stopping(node), NULL);
	items(&t);
	struct rumor_node_pipeline pl;
	rumor_node_get_pipeline(node, &pl);
	rumor_metrics_family(&t, "rumor_verify_queue_items", "gauge",
			     "Items waiting for or under signature verification.");
	rumor_metrics_sample_u64(&t, "rumor_verify_queue_items", pl.verify_queued, NULL);
	rumor_metrics_family(&t, "rumor_pipeline_items", "gauge",
			     "Items between receipt and their store commit.");
	rumor_metrics_sample_u64(&t, "rumor_pipeline_items", pl.in_flight, NULL);
	rumor_metrics_family(&t, "rumor_pipeline_bytes", "gauge",
			     "Bytes of the items between receipt and their store commit.");
	rumor_metrics_sample_u64(&t, "rumor_pipeline_bytes", pl.in_flight_bytes, NULL);
	wire(&t, rumor_node_peers(node));
	relay(&t, node);
	store(&t, rumor_node_store(node));
	process(&t, node);
	return rumor_metrics_text_take(&t, len);
}

void rumor_node_metrics_serve(void *ctx, const char *path, int *status,
			      const char **content_type, char **body, size_t *len)
{
	struct rumor_node *node = *(struct rumor_node **)ctx;
	*body = NULL;
	*len = 0;
	*content_type = "text/plain; charset=utf-8";
	if (strcmp(path, "/metrics") == 0) {
		if (!node) {
			*status = 503;
			return;
		}
		*body = render_metrics(node, len);
		*status = *body ? 200 : 500;
		*content_type = "text/plain; version=0.0.4; charset=utf-8";
		return;
	}
	if (strcmp(path, "/health") == 0) {
		int serving = node && !rumor_node_stopping(node) && rumor_node_store(node);
		char buf[256];
		int n;
		if (serving) {
			n = snprintf(buf, sizeof(buf),
				     "{\"status\":\"serving\",\"uptime_s\":%llu,\"peers\":%zu}\n",
				     (unsigned long long)rumor_node_uptime_s(node),
				     rumor_node_peers(node)
					     ? rumor_peers_ready_count(rumor_node_peers(node))
					     : (size_t)0);
		} else {
			n = snprintf(buf, sizeof(buf), "{\"status\":\"stopping\"}\n");
		}
		*status = serving ? 200 : 503;
		*content_type = "application/json";
		*body = malloc((size_t)n + 1);
		if (*body) {
			memcpy(*body, buf, (size_t)n + 1);
			*len = (size_t)n;
		}
		return;
	}
	*status = 404;
	*body = strdup("not found: try /metrics or /health\n");
	*len = *body ? strlen(*body) : 0;
}
