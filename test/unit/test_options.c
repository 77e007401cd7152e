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

static void write_file(const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_file(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static void test_p2p_defaults(void **state)
{
	(void)state;
	struct rumor_config cfg;
	char err[512] = "";
	assert_int_equal(load(&cfg, err, sizeof(err), 0), 0);
	assert_int_equal(cfg.listen, 1);
	assert_int_equal(cfg.listen_given, 0);
	assert_string_equal(cfg.listen_host, "0.0.0.0");
	assert_int_equal(cfg.listen_port, 8633);
	assert_int_equal(cfg.n_connect, 0);
	assert_int_equal(cfg.has_psk, 0);
	assert_int_equal(cfg.max_inbound, 64);
	assert_int_equal(cfg.max_handshakes, 16);
	assert_int_equal(cfg.max_handshakes_per_netgroup, 4);
	assert_int_equal(cfg.loopback_netgroups, 0);
	assert_int_equal(cfg.inv_flush_ms, 5);
	assert_int_equal(cfg.inv_poisson, 0);
	assert_int_equal(cfg.peer_serve_rate, 8388608);
	assert_int_equal(cfg.peer_serve_burst, 33554432);
}

/* --addnode fills the same list as --connect (file and command line), in
 * order; --invflushms and --invpoisson set the relay's batching. */
static void test_relay_options(void **state)
{
	(void)state;
	const char *id = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char addnode_id[200];
	snprintf(addnode_id, sizeof(addnode_id), "--addnode=%s@127.0.0.1:9001", id);
	write_conf("addnode=peer.example:8633\ninvflushms=100\ninvpoisson=1\n");
	struct rumor_config cfg;
	char err[512] = "";
	assert_int_equal(load(&cfg, err, sizeof(err), 3, "--connect=10.0.0.1:1", addnode_id,
			      "--invflushms=0"),
			 0);
	assert_int_equal(cfg.n_connect, 3);
	assert_string_equal(cfg.connect[0].host, "peer.example");
	assert_int_equal(cfg.connect[0].port, 8633);
	assert_string_equal(cfg.connect[1].host, "10.0.0.1");
	assert_int_equal(cfg.connect[2].has_id, 1);
	assert_int_equal(cfg.connect[2].id[31], 0xff);
	assert_int_equal(cfg.connect[2].port, 9001);
	assert_int_equal(cfg.inv_flush_ms, 0); /* the command line wins */
	assert_int_equal(cfg.inv_poisson, 1);

	/* invpoisson=0 in the file turns it off; the flag turns it on. */
	write_conf("invpoisson=0\n");
	assert_int_equal(load(&cfg, err, sizeof(err), 0), 0);
	assert_int_equal(cfg.inv_poisson, 0);
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "--invpoisson"), 0);
	assert_int_equal(cfg.inv_poisson, 1);
	assert_int_equal(cfg.inv_flush_ms, 5);

	/* --connect and --addnode share one cap of RUMOR_CONNECT_MAX. */
	write_conf("");
	char *argv[RUMOR_CONNECT_MAX + 3] = {NULL};
	char args[RUMOR_CONNECT_MAX + 1][64];
	for (int i = 0; i <= RUMOR_CONNECT_MAX; i++) {
		snprintf(args[i], sizeof(args[i]), "--%s=10.0.0.1:%d", i % 2 ? "addnode" : "connect",
			 i + 1);
		argv[i + 1] = args[i];
	}
	char prog[] = "rumord";
	argv[0] = prog;
	struct rumor_config big;
	rumor_config_defaults(&big);
	snprintf(big.datadir, sizeof(big.datadir), "%s", dir);
	assert_int_equal(rumor_config_load(&big, RUMOR_CONNECT_MAX + 1, argv, err, sizeof(err)), 0);
	assert_int_equal(big.n_connect, RUMOR_CONNECT_MAX);
	rumor_config_defaults(&big);
	snprintf(big.datadir, sizeof(big.datadir), "%s", dir);
	assert_int_equal(rumor_config_load(&big, RUMOR_CONNECT_MAX + 2, argv, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most 64"));
}

static void test_p2p_options(void **state)
{
	(void)state;
	const char *id = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char connect_id[200], psk_arg[400];
	snprintf(connect_id, sizeof(connect_id), "--connect=%s@[::1]:9000", id);
	write_file("psk", "0101010101010101010101010101010101010101010101010101010101010101\n");
	snprintf(psk_arg, sizeof(psk_arg), "--network-psk=%s/psk", dir);
	/* One --connect in the file, two on the command line: all three count. */
	write_conf("connect=peer.example:8633\nmaxinbound=10\n");
	struct rumor_config cfg;
	char err[512] = "";
	assert_int_equal(load(&cfg, err, sizeof(err), 6, "--listen=127.0.0.1:0", connect_id,
			      "--connect=10.0.0.1:1", psk_arg, "--maxinboundperip=2",
			      "--maxinbound=20"),
			 0);
	assert_int_equal(cfg.listen, 1);
	assert_int_equal(cfg.listen_given, 1);
	assert_string_equal(cfg.listen_host, "127.0.0.1");
	assert_int_equal(cfg.listen_port, 0);
	assert_int_equal(cfg.n_connect, 3);
	assert_int_equal(cfg.connect[0].has_id, 0);
	assert_string_equal(cfg.connect[0].host, "peer.example");
	assert_int_equal(cfg.connect[0].port, 8633);
	assert_int_equal(cfg.connect[1].has_id, 1);
	assert_int_equal(cfg.connect[1].id[0], 0x00);
	assert_int_equal(cfg.connect[1].id[31], 0xff);
	assert_string_equal(cfg.connect[1].host, "::1");
	assert_int_equal(cfg.connect[1].port, 9000);
	assert_string_equal(cfg.connect[2].host, "10.0.0.1");
	assert_int_equal(cfg.has_psk, 1);
	assert_int_equal(cfg.psk[0], 1);
	assert_int_equal(cfg.psk[31], 1);
	assert_int_equal(cfg.max_inbound, 20);
	assert_int_equal(cfg.max_handshakes_per_netgroup, 2); /* the deprecated name */
	assert_int_equal(load(&cfg, err, sizeof(err), 3, "--maxhandshakes=7",
			      "--maxhandshakespernetgroup=3", "--loopbacknetgroups"),
			 0);
	assert_int_equal(cfg.max_handshakes, 7);
	assert_int_equal(cfg.max_handshakes_per_netgroup, 3);
	assert_int_equal(cfg.loopback_netgroups, 1);
	/* the serving budget, at its bounds; the command line wins */
	write_conf("peerserverate=2000000\npeerserveburst=5000000\n");
	assert_int_equal(load(&cfg, err, sizeof(err), 0), 0);
	assert_int_equal(cfg.peer_serve_rate, 2000000);
	assert_int_equal(cfg.peer_serve_burst, 5000000);
	assert_int_equal(load(&cfg, err, sizeof(err), 2, "--peerserverate=1048576",
			      "--peerserveburst=1099511627776"),
			 0);
	assert_int_equal(cfg.peer_serve_rate, 1048576);
	assert_int_equal(cfg.peer_serve_burst, UINT64_C(1099511627776));
	assert_int_equal(load(&cfg, err, sizeof(err), 2, "--peerserverate=1099511627776",
			      "--peerserveburst=4194304"),
			 0);
	assert_int_equal(cfg.peer_serve_rate, UINT64_C(1099511627776));
	assert_int_equal(cfg.peer_serve_burst, 4194304);
	write_conf("connect=peer.example:8633\nmaxinbound=10\n");

	/* --nolisten wins over --listen; in the file it is nolisten=1. */
	assert_int_equal(load(&cfg, err, sizeof(err), 2, "--nolisten", "--listen=[::]:1"), 0);
	assert_int_equal(cfg.listen, 0);
	write_conf("nolisten=1\n");
	assert_int_equal(load(&cfg, err, sizeof(err), 0), 0);
	assert_int_equal(cfg.listen, 0);
	remove_file("psk");
}

static void test_p2p_errors_name_the_option(void **state)
{
	(void)state;
	struct rumor_config cfg;
	char err[512] = "";
	static const char *const bad[][2] = {
		{"--listen=localhost:8633", "listen"}, /* a name, not an address */
		{"--listen=127.0.0.1", "listen"},
		{"--connect=127.0.0.1:0", "connect"},
		{"--connect=abcd@127.0.0.1:1", "connect"},
		{"--connect=host", "connect"},
		{"--maxinbound=x", "maxinbound"},
		{"--maxinboundperip=0", "maxinboundperip"},
		{"--maxhandshakes=0", "maxhandshakes"},
		{"--maxhandshakespernetgroup=x", "maxhandshakespernetgroup"},
		{"--loopbacknetgroups=2", "loopbacknetgroups"},
		{"--maxinbound=1025", "from 0 to 1024"}, /* past what the core takes */
		{"--maxinboundperip=1025", "from 1 to 1024"},
		{"--network-psk=/nonexistent/psk", "network-psk"},
		{"--addnode=127.0.0.1:0", "addnode"},
		{"--addnode=host", "addnode"},
		{"--invflushms=60001", "invflushms"},
		{"--invflushms=-1", "invflushms"},
		{"--invflushms=", "invflushms"},
		{"--invpoisson=1", "invpoisson"}, /* a flag on the command line */
		{"--peerserverate=1048575", "peerserverate must be a number of bytes per second "
					    "from 1048576 to 1099511627776"},
		{"--peerserverate=1099511627777", "peerserverate"},
		{"--peerserverate=8M", "peerserverate"},
		{"--peerserverate=", "peerserverate"},
		{"--peerserveburst=4194303", "peerserveburst must be a number of bytes from "
					     "4194304 to 1099511627776"},
		{"--peerserveburst=1099511627777", "peerserveburst"},
		{"--peerserveburst=-1", "peerserveburst"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(load(&cfg, err, sizeof(err), 1, bad[i][0]), -1);
		if (!strstr(err, bad[i][1]))
			fail_msg("%s: error '%s' does not name %s", bad[i][0], err, bad[i][1]);
	}
	/* A malformed key file: too short, and no trailing newline. */
	char psk_arg[400];
	snprintf(psk_arg, sizeof(psk_arg), "--network-psk=%s/psk", dir);
	write_file("psk", "0101\n");
	assert_int_equal(load(&cfg, err, sizeof(err), 1, psk_arg), -1);
	assert_non_null(strstr(err, "network-psk"));
	assert_non_null(strstr(err, "64 hex"));
	write_conf("maxinbound=-1\n");
	assert_int_equal(load(&cfg, err, sizeof(err), 0), -1);
	assert_non_null(strstr(err, "rumor.conf:1:"));
	assert_non_null(strstr(err, "maxinbound"));
	remove_file("psk");
}

static void test_trailing_comments(void **state)
{
	(void)state;
	write_conf("network=testnet   # the test network\n"
		   "rpcbind=127.0.0.1:7001\t# tab before the comment\n"
		   "logfile=/tmp/a#b.log # a '#' inside a value stays\n"
		   "nolisten=1 #\n"
		   "   # indented whole-line comment\n");
	struct rumor_config cfg;
	char err[512] = "";
	assert_int_equal(load(&cfg, err, sizeof(err), 0), 0);
	assert_string_equal(cfg.network, "testnet");
	assert_int_equal(cfg.rpc_port, 7001);
	assert_string_equal(cfg.logfile, "/tmp/a#b.log");
	assert_int_equal(cfg.listen, 0);

	write_conf("loglevel=debug# no space: part of the value\n");
	assert_int_equal(load(&cfg, err, sizeof(err), 0), -1);
	assert_non_null(strstr(err, "rumor.conf:1: loglevel must be"));
}

static void test_service_options(void **state)
{
	(void)state;
	struct rumor_config cfg;
	char err[1024] = "";
	assert_int_equal(load(&cfg, err, sizeof(err), 0), 0);
	assert_int_equal(cfg.metrics, 0);
	assert_string_equal(cfg.logfile, "");
	assert_int_equal(rumor_config_check(&cfg, err, sizeof(err)), 0);

	assert_int_equal(load(&cfg, err, sizeof(err), 2, "--metricsbind=[::1]:9100",
			      "--logfile=/var/log/rumord.log"),
			 0);
	assert_int_equal(cfg.metrics, 1);
	assert_string_equal(cfg.metrics_host, "::1");
	assert_int_equal(cfg.metrics_port, 9100);
	assert_string_equal(cfg.logfile, "/var/log/rumord.log");
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "--metricsbind=localhost:9100"), -1);
	assert_non_null(strstr(err, "--metricsbind: metricsbind must be HOST:PORT with a numeric"));

	/* A non-loopback rpcbind needs rpcallowremote. */
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "--rpcbind=0.0.0.0:8632"), 0);
	assert_int_equal(rumor_config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--rpcbind=0.0.0.0:8632 is not a loopback address"));
	assert_int_equal(load(&cfg, err, sizeof(err), 1, "--rpcbind=[::]:8632"), 0);
	assert_int_equal(rumor_config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--rpcbind=[::]:8632 is not"));
	assert_int_equal(load(&cfg, err, sizeof(err), 2, "--rpcbind=0.0.0.0:8632",
			      "--rpcallowremote"),
			 0);
	assert_int_equal(rumor_config_check(&cfg, err, sizeof(err)), 0);
	write_conf("rpcbind=192.0.2.1:8632\nrpcallowremote=1\n");
	assert_int_equal(load(&cfg, err, sizeof(err), 0), 0);
	assert_int_equal(rumor_config_check(&cfg, err, sizeof(err)), 0);

	assert_true(rumor_is_loopback("127.0.0.1"));
	assert_true(rumor_is_loopback("127.255.0.9"));
	assert_true(rumor_is_loopback("::1"));
	assert_false(rumor_is_loopback("128.0.0.1"));
	assert_false(rumor_is_loopback("::"));
	assert_false(rumor_is_loopback("::ffff:127.0.0.1"));
	assert_false(rumor_is_loopback("localhost"));
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
		cmocka_unit_test_setup_teardown(test_p2p_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p2p_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p2p_errors_name_the_option, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_options, setup, teardown),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test_setup_teardown(test_trailing_comments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_options, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
