/* Unit tests for src/options.c: command line and config file. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/options.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rumor-test-options-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "%s/rumor.conf", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void write_conf(const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/rumor.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int load(struct rumor_config *cfg, char *err, size_t errlen, int n, ...)
{
	char *argv[16];
	char datadir_arg[300];
	snprintf(datadir_arg, sizeof(datadir_arg), "--datadir=%s", dir);
	argv[0] = "rumord";
	argv[1] = datadir_arg;
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		argv[2 + i] = va_arg(ap, char *);
	va_end(ap);
	argv[2 + n] = NULL;
	rumor_config_defaults(cfg);
	return rumor_config_load(cfg, 2 + n, argv, err, errlen);
}

static void test_defaults_and_command_line(void **state)
{
	(void)state;
	struct rumor_config cfg;
	char err[512] = "";
	assert_int_equal(load(&cfg, err, sizeof(err), 3, "--network=testnet",
			      "--rpcbind=127.0.0.2:9000", "--loglevel=debug"),
			 0);
	assert_string_equal(cfg.network, "testnet");
	assert_string_equal(cfg.rpc_host, "127.0.0.2");
	assert_int_equal(cfg.rpc_port, 9000);
	assert_int_equal(cfg.log_level, RUMOR_LOG_DEBUG);
	assert_string_equal(cfg.datadir, dir);
	assert_int_equal(cfg.rpc_max_clients, 64);
}

static void test_file_then_command_line_wins(void **state)
{
	(void)state;
	write_conf("# comment\n\nnetwork = filenet\nrpcbind=[::1]:7000\n"
		   "blockproducer=" "0101010101010101010101010101010101010101010101010101010101010101\n");
	struct rumor_config cfg;
	char err[512] = "";
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "--network=clinet"), 0);
	assert_string_equal(cfg.network, "clinet");
	assert_string_equal(cfg.rpc_host, "::1");
	assert_int_equal(cfg.rpc_port, 7000);
	assert_int_equal(cfg.n_producers, 1);
	assert_int_equal(cfg.producers[0][0], 1);
}

static void test_bad_file_line_names_line(void **state)
{
	(void)state;
	write_conf("network=ok\nbogus=1\n");
	struct rumor_config cfg;
	char err[512] = "";
	assert_int_equal(load(&cfg, err, sizeof(err), 0), -1);
	assert_non_null(strstr(err, "rumor.conf:2:"));
	assert_non_null(strstr(err, "bogus"));

	write_conf("rpcbind=nonsense\n");
	assert_int_equal(load(&cfg, err, sizeof(err), 0), -1);
	assert_non_null(strstr(err, "rumor.conf:1:"));
	assert_non_null(strstr(err, "rpcbind"));

	write_conf("just words\n");
	assert_int_equal(load(&cfg, err, sizeof(err), 0), -1);
	assert_non_null(strstr(err, "expected name=value"));
}

static void test_bad_command_line(void **state)
{
	(void)state;
	struct rumor_config cfg;
	char err[512] = "";
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "--nosuch"), -1);
	assert_non_null(strstr(err, "--nosuch"));
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "--network=bad name!"), -1);
	assert_non_null(strstr(err, "network"));
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "--rpcmaxclients=0"), -1);
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "--blockproducer=abcd"), -1);
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "stray"), -1);
	assert_non_null(strstr(err, "stray"));
	/* A missing explicit --conf file is an error; a missing default is not. */
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "--conf=/nonexistent/rumor.conf"), -1);
	assert_non_null(strstr(err, "/nonexistent/rumor.conf"));
}

static void test_hostport(void **state)
{
	(void)state;
	char host[64];
	int port;
	assert_int_equal(rumor_parse_hostport("127.0.0.1:8632", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8632);
	assert_int_equal(rumor_parse_hostport("[::1]:0", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(rumor_parse_hostport("::1:80", host, sizeof(host), &port), -1);
	assert_int_equal(rumor_parse_hostport("host:", host, sizeof(host), &port), -1);
	assert_int_equal(rumor_parse_hostport("host:65536", host, sizeof(host), &port), -1);
	assert_int_equal(rumor_parse_hostport(":80", host, sizeof(host), &port), -1);
	assert_int_equal(rumor_parse_hostport("noport", host, sizeof(host), &port), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults_and_command_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_then_command_line_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_file_line_names_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_command_line, setup, teardown),
		cmocka_unit_test(test_hostport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
