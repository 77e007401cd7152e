/*
 * src/rumord.c: the rumord daemon's entry point, and what makes it a
 * service around the node (src/node.h): the log file (--logfile, reopened
 * on SIGHUP), the monitoring listener (--metricsbind: /metrics and
 * /health, src/node_metrics.h), the check that a remote --rpcbind was
 * meant (--rpcallowremote), and readiness for systemd (Type=notify) when
 * built with libsystemd (READY=1 once the RPC port is open, STOPPING=1 as
 * shutdown begins).
 *
 * Order at start: options, then the log file, then the metrics listener
 * (bound before the node starts, so that a port in use fails the start
 * before anything is created in the datadir), then the node.  SIGHUP and
 * the metrics listener do not keep the loop alive: when the node has shut
 * down, uv_run returns, and they are closed with one more run.
 *
 * Exit status: 0 after a clean shutdown, 1 when start-up fails (the reason
 * is printed as "error: ..." on stderr, and logged to --logfile), including
 * a bad option or config line.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "crypto/sign.h"
#include "rpc/json_alloc.h"
#include "src/log.h"
#include "src/metrics_http.h"
#include "src/node.h"
#include "src/node_metrics.h"
#include "src/options.h"
#include "src/rpc_methods.h"

static void on_sighup(uv_signal_t *handle, int signum)
{
	(void)handle;
	(void)signum;
	const char *path = rumor_log_path();
	if (!path) {
		log_info("received SIGHUP: logging to stderr, nothing to reopen");
		return;
	}
	int rc = rumor_log_reopen();
	if (rc != 0)
		log_error("received SIGHUP: cannot reopen log file %s: %s; still writing to the "
			  "old file",
			  path, strerror(-rc));
	else
		log_info("received SIGHUP: reopened log file %s", path);
}

/* SIGTERM and SIGINT from the first moment: the node installs its own
 * handlers only at the end of its start, and a signal before that (a
 * service manager stopping a node that is still opening its database, a
 * script that sees the cookie and stops it) took the default action and
 * killed the process.  Now it stops the node once the loop runs (the node's
 * own handler, when it has one, does the same: rumor_node_stop is
 * idempotent). */
static void on_early_stop_signal(uv_signal_t *handle, int signum)
{
	struct rumor_node **node = handle->data;
	(void)signum;
	if (*node)
		rumor_node_stop(*node);
}

#ifdef HAVE_SYSTEMD
/* Once per loop turn: tells systemd STOPPING=1 when shutdown begins (stop
 * RPC, SIGTERM, SIGINT), once. */
static void on_prepare_notify(uv_prepare_t *handle)
{
	struct rumor_node **node = handle->data;
	if (*node && rumor_node_stopping(*node)) {
		sd_notify(0, "STOPPING=1\nSTATUS=shutting down");
		uv_prepare_stop(handle);
	}
}
#endif

/* Start-up failed: say why on stderr, and in the log file if there is one. */
static int start_failed(const char *err)
{
	fprintf(stderr, "error: %s\n", err);
	if (rumor_log_path())
		log_error("start-up failed: %s", err);
	return 1;
}

static void close_handles(uv_loop_t *loop, uv_signal_t *signals, size_t n,
			  struct rumor_metrics_http *metrics)
{
	for (size_t i = 0; i < n; i++)
		uv_close((uv_handle_t *)&signals[i], NULL);
	if (metrics)
		rumor_metrics_http_close(metrics, NULL, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
	/* Before any jansson value exists (see rpc/json_alloc.h). */
	rumor_json_alloc_install();

	struct rumor_config cfg;
	char err[1024] = "";
	rumor_config_defaults(&cfg);
	if (rumor_config_load(&cfg, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "error: %s\n", err);
		return 1;
	}
	if (cfg.show_help) {
		rumor_config_usage(argv[0]);
		return 0;
	}
	if (cfg.show_version) {
		printf("rumord %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (rumor_config_check(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "error: %s\n", err);
		return 1;
	}
	rumor_log_set_level(cfg.log_level);
	if (cfg.logfile[0]) {
		int rc = rumor_log_open(cfg.logfile);
		if (rc != 0) {
			fprintf(stderr, "error: cannot open log file %s: %s\n", cfg.logfile,
				strerror(-rc));
			return 1;
		}
	}
	if (rumor_crypto_init() != 0)
		return start_failed("cannot initialise libsodium");
	/* A peer or client closing its socket must not kill the node. */
	signal(SIGPIPE, SIG_IGN);

	uv_loop_t loop;
	if (uv_loop_init(&loop) != 0)
		return start_failed("cannot initialise the event loop");
	/* SIGHUP reopens the log file (logrotate); it never stops the node.
	 * None of these keeps the loop alive. */
	struct rumor_node *node = NULL;
	uv_signal_t signals[3];
	static const int signums[3] = {SIGHUP, SIGTERM, SIGINT};
	for (size_t i = 0; i < 3; i++) {
		uv_signal_init(&loop, &signals[i]);
		signals[i].data = &node;
		uv_signal_start(&signals[i], i == 0 ? on_sighup : on_early_stop_signal, signums[i]);
		uv_unref((uv_handle_t *)&signals[i]);
	}

	log_info("rumord %s starting, datadir %s", PACKAGE_VERSION, cfg.datadir);
	struct rumor_metrics_http *metrics = NULL;
	if (cfg.metrics) {
		int rc = rumor_metrics_http_new(&metrics, &loop, cfg.metrics_host, cfg.metrics_port,
						rumor_node_metrics_serve, &node);
		if (rc != 0) {
			snprintf(err, sizeof(err), "cannot listen for metrics on %s%s%s:%d: %s",
				 strchr(cfg.metrics_host, ':') ? "[" : "", cfg.metrics_host,
				 strchr(cfg.metrics_host, ':') ? "]" : "", cfg.metrics_port,
				 uv_strerror(rc));
			close_handles(&loop, signals, 3, NULL);
			uv_loop_close(&loop);
			return start_failed(err);
		}
	}
	if (rumor_node_start(&node, &loop, &cfg, err, sizeof(err)) != 0) {
		close_handles(&loop, signals, 3, metrics);
		uv_loop_close(&loop);
		return start_failed(err);
	}
	/* The methods reach the node through its accessors (src/node.h). */
	rumor_rpc_methods_setup(rumor_node_rpc(node), node);
	if (!rumor_is_loopback(cfg.rpc_host))
		log_warn("rpc: listening on a non-loopback address (--rpcallowremote): anyone who "
			 "can reach %s sees the RPC credentials in clear text (HTTP Basic auth, no "
			 "TLS)",
			 cfg.rpc_host);
	if (metrics) {
		int v6 = strchr(cfg.metrics_host, ':') != NULL;
		log_notice("metrics: listening on %s%s%s:%d", v6 ? "[" : "", cfg.metrics_host,
			   v6 ? "]" : "", rumor_metrics_http_port(metrics));
		if (!rumor_is_loopback(cfg.metrics_host))
			log_warn("metrics: %s is not a loopback address: /metrics and /health "
				 "answer anyone who can reach it (no authentication)",
				 cfg.metrics_host);
	}
#ifdef HAVE_SYSTEMD
	sd_notify(0, "READY=1\nSTATUS=serving");
	uv_prepare_t notify_stop;
	uv_prepare_init(&loop, &notify_stop);
	notify_stop.data = &node;
	uv_prepare_start(&notify_stop, on_prepare_notify);
	uv_unref((uv_handle_t *)&notify_stop);
#endif
	uv_run(&loop, UV_RUN_DEFAULT);
#ifdef HAVE_SYSTEMD
	uv_close((uv_handle_t *)&notify_stop, NULL);
#endif
	/* The node is down: /health and /metrics stop with it. */
	struct rumor_node *done = node;
	node = NULL;
	close_handles(&loop, signals, 3, metrics);
	rumor_node_free(done);
	rumor_json_alloc_trim();
	int rc = uv_loop_close(&loop);
	if (rc != 0)
		log_broken("event loop closed with handles still open: %s", uv_strerror(rc));
	rumor_log_close();
	return 0;
}
