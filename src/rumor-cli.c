/*
 * src/rumor-cli.c: command-line client for rumord's JSON-RPC port.
 *
 *   rumor-cli [--datadir=DIR] [--conf=FILE] [--rpcconnect=HOST:PORT]
 *             [--rpcuser=U --rpcpassword=P] [--rpctimeout=SECONDS]
 *             [--rpcwait] METHOD [ARGS...]
 *
 * --rpcwait: while the node is not up yet (no cookie, connection refused),
 * try again every 100 ms, for at most --rpctimeout seconds in all.
 *
 * The address: --rpcconnect, else rpcbind from the node's config file
 * (DATADIR/rumor.conf or --conf, read with rumord's own parser), else
 * 127.0.0.1:8632.  A wildcard rpcbind (0.0.0.0, ::) is reached on loopback.
 *
 * Each ARG is sent as JSON when it parses as JSON (numbers, true, false,
 * null, objects, arrays, quoted strings), otherwise as a plain string.
 * Credentials: --rpcuser/--rpcpassword, else DATADIR/.cookie.
 *
 * Output: a string result is printed bare (scripts can capture ids), null
 * prints nothing, anything else is indented JSON.
 *
 * Exit status: 0 success, 1 the server answered with an RPC error,
 * 2 usage error, 3 connection, authorization or HTTP failure.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "rpc/auth.h"
#include "rpc/http_client.h"
#include "src/options.h"

#define EXIT_RPC_ERROR 1
#define EXIT_USAGE 2
#define EXIT_CONNECTION 3

#define DEFAULT_RPCCONNECT "127.0.0.1:8632"
#define DEFAULT_PORT 8632
#define DEFAULT_TIMEOUT_S 30

static void usage(FILE *out)
{
	fputs("Usage: rumor-cli [OPTIONS] METHOD [ARGS...]\n"
	      "Send one JSON-RPC call to rumord and print the result.\n"
	      "\n"
	      "Options:\n"
	      "  --datadir=DIR          data directory holding .cookie and rumor.conf\n"
	      "                         (default ~/.rumor)\n"
	      "  --conf=FILE            the node's config file (default DATADIR/rumor.conf):\n"
	      "                         its rpcbind is the default --rpcconnect\n"
	      "  --rpcconnect=HOST:PORT server address (default: rpcbind from the config\n"
	      "                         file, else " DEFAULT_RPCCONNECT ")\n"
	      "  --rpcuser=USER         user name of an --rpcauth entry (with --rpcpassword)\n"
	      "  --rpcpassword=PASS     its password; without both, DATADIR/.cookie is used\n"
	      "  --rpctimeout=SECONDS   give up after this long (default 30)\n"
	      "  --rpcwait              wait for the node to start (up to --rpctimeout)\n"
	      "  --help                 show this help\n"
	      "  --version              show the version\n"
	      "\n"
	      "Each ARG is sent as JSON if it is valid JSON (42, true, null, \"text\",\n"
	      "[1,2], {\"a\":1}), otherwise as a plain string.\n"
	      "A string result is printed without quotes, null prints nothing, other\n"
	      "results are printed as indented JSON.\n"
	      "\n"
	      "Exit status: 0 success, 1 RPC error (code and message on stderr),\n"
	      "2 usage error, 3 cannot connect, authorization failed or HTTP error.\n"
	      "\n"
	      "Examples:\n"
	      "  rumor-cli getinfo\n"
	      "  rumor-cli help sendrawtransaction\n"
	      "  rumor-cli getblock BLOCKID true\n",
	      out);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "rumor-cli: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'rumor-cli --help'.\n");
	va_end(ap);
	return EXIT_USAGE;
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --rpcwait: 1 (after a 100 ms pause) while time is left before deadline. */
static int wait_again(int64_t deadline_ms)
{
	if (monotonic_ms() + 100 >= deadline_ms)
		return 0;
	struct timespec pause = {0, 100 * 1000 * 1000};
	nanosleep(&pause, NULL);
	return 1;
}

/* ARG as JSON if it parses, else a JSON string. */
static json_t *arg_to_json(const char *arg)
{
	json_error_t err;
	json_t *v = json_loads(arg, JSON_DECODE_ANY, &err);
	if (v)
		return v;
	v = json_string(arg);
	if (!v)
		v = json_stringn_nocheck(arg, strlen(arg)); /* not UTF-8: send as is */
	return v;
}

/* Prints a result the way scripts want it. */
static void print_result(json_t *result)
{
	if (!result || json_is_null(result))
		return;
	if (json_is_string(result)) {
		fwrite(json_string_value(result), 1, json_string_length(result), stdout);
		fputc('\n', stdout);
		return;
	}
	char *text = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (text) {
		puts(text);
		free(text);
	}
}

/* Returns the exit status for a JSON-RPC response object, or -1 when body
 * is not one. */
static int handle_rpc_response(const char *body, size_t len)
{
	json_error_t err;
	json_t *resp = json_loadb(body, len, 0, &err);
	if (!json_is_object(resp)) {
		json_decref(resp);
		return -1;
	}
	json_t *error = json_object_get(resp, "error");
	int status;
	if (error && !json_is_null(error)) {
		json_t *code = json_object_get(error, "code");
		json_t *message = json_object_get(error, "message");
		fprintf(stderr, "error code: %lld\n",
			json_is_integer(code) ? (long long)json_integer_value(code) : 0LL);
		fprintf(stderr, "error message: %s\n",
			json_is_string(message) ? json_string_value(message) : "(none)");
		json_t *data = json_object_get(error, "data");
		if (data) {
			char *text = json_dumps(data, JSON_ENCODE_ANY);
			if (text)
				fprintf(stderr, "error data: %s\n", text);
			free(text);
		}
		status = EXIT_RPC_ERROR;
	} else if (json_object_get(resp, "result")) {
		print_result(json_object_get(resp, "result"));
		status = 0;
	} else {
		json_decref(resp);
		return -1;
	}
	json_decref(resp);
	return status;
}

int main(int argc, char **argv)
{
	const char *datadir = NULL, *rpcconnect = NULL, *conf = NULL;
	const char *rpcuser = NULL, *rpcpassword = NULL;
	long timeout_s = DEFAULT_TIMEOUT_S;
	int rpcwait = 0;
	enum {
		OPT_DATADIR = 1,
		OPT_CONNECT,
		OPT_USER,
		OPT_PASSWORD,
		OPT_TIMEOUT,
		OPT_HELP,
		OPT_VERSION,
		OPT_CONF,
		OPT_WAIT
	};
	static const struct option options[] = {
		{"datadir", required_argument, NULL, OPT_DATADIR},
		{"rpcconnect", required_argument, NULL, OPT_CONNECT},
		{"rpcuser", required_argument, NULL, OPT_USER},
		{"rpcpassword", required_argument, NULL, OPT_PASSWORD},
		{"rpctimeout", required_argument, NULL, OPT_TIMEOUT},
		{"help", no_argument, NULL, OPT_HELP},
		{"version", no_argument, NULL, OPT_VERSION},
		{"conf", required_argument, NULL, OPT_CONF},
		{"rpcwait", no_argument, NULL, OPT_WAIT},
		{NULL, 0, NULL, 0},
	};
	opterr = 0;
	int opt;
	/* "+": stop at METHOD, so ARGS such as -5 are not taken as options */
	while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_DATADIR:
			datadir = optarg;
			break;
		case OPT_CONNECT:
			rpcconnect = optarg;
			break;
		case OPT_USER:
			rpcuser = optarg;
			break;
		case OPT_PASSWORD:
			rpcpassword = optarg;
			break;
		case OPT_TIMEOUT: {
			char *end;
			errno = 0;
			timeout_s = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || timeout_s < 1 || timeout_s > 86400)
				return usage_error("--rpctimeout must be 1..86400 seconds, not '%s'",
						   optarg);
			break;
		}
		case OPT_HELP:
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("rumor-cli %s\n", PACKAGE_VERSION);
			return 0;
		case OPT_CONF:
			conf = optarg;
			break;
		case OPT_WAIT:
			rpcwait = 1;
			break;
		default:
			return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("%s", "no METHOD given");
	if ((rpcuser == NULL) != (rpcpassword == NULL))
		return usage_error("%s", "--rpcuser and --rpcpassword go together");

	/* The data directory, and the node's config file in it. */
	char default_dir[PATH_MAX];
	if (!datadir) {
		const char *home = getenv("HOME");
		if (home && *home) {
			snprintf(default_dir, sizeof(default_dir), "%s/.rumor", home);
			datadir = default_dir;
		}
	}
	char conf_path[PATH_MAX + 16] = "";
	if (conf)
		snprintf(conf_path, sizeof(conf_path), "%s", conf);
	else if (datadir)
		snprintf(conf_path, sizeof(conf_path), "%s/rumor.conf", datadir);
	struct rumor_config *node_cfg = calloc(1, sizeof(*node_cfg));
	if (!node_cfg) {
		fprintf(stderr, "error: out of memory\n");
		return EXIT_USAGE;
	}
	rumor_config_defaults(node_cfg);
	node_cfg->rpc_port = -1; /* "not set by the file" */
	char cfg_err[1024];
	if (conf_path[0] &&
	    rumor_config_read_file(node_cfg, conf_path, conf != NULL, cfg_err, sizeof(cfg_err))) {
		if (conf) {
			fprintf(stderr, "error: %s\n", cfg_err);
			free(node_cfg);
			return EXIT_USAGE;
		}
		/* The node's own file, read for rpcbind and network only: a line
		 * rumor-cli cannot use (say, a network-psk file it may not read)
		 * must not stop it.  The lines before it still count. */
		fprintf(stderr, "warning: %s (read only up to that line)\n", cfg_err);
	}
	char from_conf[128];
	if (!rpcconnect && node_cfg->rpc_port >= 0) {
		const char *h = node_cfg->rpc_host;
		if (strcmp(h, "0.0.0.0") == 0)
			h = "127.0.0.1";
		else if (strcmp(h, "::") == 0)
			h = "::1";
		snprintf(from_conf, sizeof(from_conf), "%s%s%s:%d", strchr(h, ':') ? "[" : "", h,
			 strchr(h, ':') ? "]" : "", node_cfg->rpc_port);
		rpcconnect = from_conf;
	}
	int rpcconnect_given = rpcconnect != NULL && rpcconnect != from_conf;
	if (!rpcconnect)
		rpcconnect = DEFAULT_RPCCONNECT;
	char network[sizeof(node_cfg->network)];
	snprintf(network, sizeof(network), "%s", node_cfg->network);
	free(node_cfg);

	char host[256];
	int port;
	if (rumor_http_split_hostport(rpcconnect, host, sizeof(host), &port, DEFAULT_PORT) != 0)
		return usage_error("bad --rpcconnect '%s' (want HOST:PORT or [IPV6]:PORT)",
				   rpcconnect);

	int64_t deadline_ms = monotonic_ms() + timeout_s * 1000;
	/* Credentials */
	char userpass[1024];
	if (rpcuser) {
		if (strchr(rpcuser, ':'))
			return usage_error("%s", "--rpcuser must not contain ':'");
		if ((size_t)snprintf(userpass, sizeof(userpass), "%s:%s", rpcuser, rpcpassword) >=
		    sizeof(userpass))
			return usage_error("%s", "--rpcuser/--rpcpassword too long");
	} else {
		if (!datadir) {
			fprintf(stderr, "error: HOME is not set; pass --datadir or "
					"--rpcuser/--rpcpassword\n");
			return EXIT_USAGE;
		}
		char cookie_path[PATH_MAX + 16];
		snprintf(cookie_path, sizeof(cookie_path), "%s/.cookie", datadir);
		int err;
		while ((err = rumor_auth_read_cookie(cookie_path, userpass, sizeof(userpass))) ==
			       -ENOENT &&
		       rpcwait && wait_again(deadline_ms))
			;
		if (err) {
			fprintf(stderr,
				"error: cannot read cookie file %s: %s; is rumord running with "
				"this --datadir? or pass --rpcuser/--rpcpassword\n",
				cookie_path, err == -EINVAL ? "malformed file" : strerror(-err));
			return EXIT_CONNECTION;
		}
	}

	/* Request */
	json_t *params = json_array();
	for (int i = optind + 1; i < argc; i++)
		json_array_append_new(params, arg_to_json(argv[i]));
	json_t *request = json_object();
	json_object_set_new(request, "jsonrpc", json_string("2.0"));
	json_object_set_new(request, "id", json_integer(1));
	json_t *method = json_string(argv[optind]);
	if (!method) {
		json_decref(params);
		json_decref(request);
		return usage_error("METHOD '%s' is not valid UTF-8", argv[optind]);
	}
	json_object_set_new(request, "method", method);
	json_object_set_new(request, "params", params);
	char *body = json_dumps(request, JSON_COMPACT);
	json_decref(request);
	if (!body) {
		fprintf(stderr, "error: cannot encode the request\n");
		return EXIT_USAGE;
	}

	struct rumor_http_response resp;
	char errmsg[512];
	int err;
	for (;;) {
		int64_t left = deadline_ms - monotonic_ms();
		err = rumor_http_post(host, port, userpass, body, strlen(body),
				      (int)(left > 1000 ? left : 1000), &resp, errmsg, sizeof(errmsg));
		/* Not listening yet: the node is still starting. */
		if (!rpcwait || err != -ECONNREFUSED || !wait_again(deadline_ms))
			break;
	}
	free(body);
	memset(userpass, 0, sizeof(userpass));
	if (err) {
		fprintf(stderr, "error: cannot connect to %s: %s; is rumord running?\n",
			rpcconnect, errmsg);
		return EXIT_CONNECTION;
	}
	int status;
	if (resp.status == 401) {
		if (rpcuser)
			fprintf(stderr, "error: authorization failed at %s (wrong "
					"rpcuser/rpcpassword)\n",
				rpcconnect);
		else
			fprintf(stderr,
				"error: authorization failed at %s: the node answering there "
				"did not accept the cookie of %s (network %s); it is probably "
				"another rumord%s\n",
				rpcconnect, datadir, network,
				rpcconnect_given ? ": check --rpcconnect"
						 : ": set rpcbind in that datadir's rumor.conf, or "
						   "pass --rpcconnect");
		status = EXIT_CONNECTION;
	} else {
		/* A JSON-RPC answer counts whatever the HTTP status. */
		status = handle_rpc_response(resp.body, resp.len);
		if (status < 0) {
			size_t show = resp.len > 200 ? 200 : resp.len;
			while (show > 0 && (resp.body[show - 1] == '\n' || resp.body[show - 1] == '\r'))
				show--;
			fprintf(stderr, "error: HTTP %d from %s: %.*s\n", resp.status, rpcconnect,
				(int)show, resp.body);
			status = EXIT_CONNECTION;
		}
	}
	rumor_http_response_free(&resp);
	fflush(stdout);
	if (ferror(stdout)) {
		fprintf(stderr, "error: cannot write the result\n");
		return EXIT_CONNECTION;
	}
	return status;
}
