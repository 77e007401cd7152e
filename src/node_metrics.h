/*
 * src/node_metrics.h: what rumord serves on --metricsbind: GET /metrics
 * (Prometheus text format, every family listed in doc/design.md
 * "Monitoring") and GET /health.  It reads the modules' stats APIs
 * (relay, store, peers, the node's pipeline) and the counters of
 * src/metrics.h at each request; it keeps no state of its own.
 *
 * /health: 200 with {"status":"serving",...} while the node serves (RPC
 * port open, store open, not shutting down), else 503 with
 * {"status":"stopping"}.
 */
#ifndef RUMOR_SRC_NODE_METRICS_H
#define RUMOR_SRC_NODE_METRICS_H

#include <stddef.h>

struct rumor_node;

/* A rumor_metrics_http_fn; ctx points to the node pointer (NULL before
 * the node has started and after it is down: /health answers 503). */
void rumor_node_metrics_serve(void *ctx, const char *path, int *status,
			      const char **content_type, char **body, size_t *len);

#endif
