/*
 * src/rumord.c: the rumord daemon's entry point.
 *
 * Exit status: 0 after a clean shutdown, 1 when start-up fails (the reason
 * is printed as "error: ..." on stderr), including a bad option or config
 * line.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "crypto/sign.h"
#include "rpc/json_alloc.h"
#include "src/options.h"
#include "src/log.h"
#include "src/node.h"
#include "src/rpc_methods.h"

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
	rumor_log_set_level(cfg.log_level);
	if (rumor_crypto_init() != 0) {
		fprintf(stderr, "error: cannot initialise libsodium\n");
		return 1;
	}
	/* A peer or client closing its socket must not kill the node. */
	signal(SIGPIPE, SIG_IGN);

	uv_loop_t loop;
	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "error: cannot initialise the event loop\n");
		return 1;
	}
	log_info("rumord %s starting, datadir %s", PACKAGE_VERSION, cfg.datadir);
	struct rumor_node *node = NULL;
	if (rumor_node_start(&node, &loop, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "error: %s\n", err);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	/* The methods reach the node through its accessors (src/node.h). */
	rumor_rpc_methods_setup(rumor_node_rpc(node), node);
	uv_run(&loop, UV_RUN_DEFAULT);
	rumor_node_free(node);
	rumor_json_alloc_trim();
	int rc = uv_loop_close(&loop);
	if (rc != 0)
		log_broken("event loop closed with handles still open: %s", uv_strerror(rc));
	return 0;
}
