/*
 * src/options.c: option table, command-line and config-file parsing.
 *
 * Order: scan argv once for --datadir/--conf/--help/--version (so the file
 * can be found), read the file, then apply argv on top.  Every value goes
 * through the same setter, whatever its origin.
 */
#include "config.h"

#include "src/options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hex.h"
#include "crypto/sign.h"
#include "net/core.h"
#include "net/ratelimit.h"

enum option_id {
	OPT_DATADIR = 1,
	OPT_CONF,
	OPT_NETWORK,
	OPT_RPCBIND,
	OPT_RPCAUTH,
	OPT_LOGLEVEL,
	OPT_BLOCKPRODUCER,
	OPT_RPCMAXBODY,
	OPT_RPCMAXCLIENTS,
	OPT_RPCTIMEOUT,
	OPT_LISTEN,
	OPT_NOLISTEN,
	OPT_CONNECT,
	OPT_ADDNODE,
	OPT_INVFLUSHMS,
	OPT_INVPOISSON,
	OPT_NETWORK_PSK,
	OPT_MAXINBOUND,
	OPT_MAXINBOUNDPERIP,
	OPT_MAXHANDSHAKES,
	OPT_MAXHANDSHAKESPERNETGROUP,
	OPT_LOOPBACKNETGROUPS,
	OPT_LOGFILE,
	OPT_METRICSBIND,
	OPT_RPCALLOWREMOTE,
	OPT_PEERSERVERATE,
	OPT_PEERSERVEBURST,
	OPT_HELP,
	OPT_VERSION,
};

struct option_spec {
	const char *name;
	enum option_id id;
	int takes_value; /* 1 required, 0 none, 2 optional (--flag or flag=1/0 in the file) */
	int in_file;     /* allowed in the config file */
	const char *help;
};

static const struct option_spec options[] = {
	{"datadir", OPT_DATADIR, 1, 0, "DIR      data directory (default ~/.rumor)"},
	{"conf", OPT_CONF, 1, 0, "FILE        config file (default DATADIR/rumor.conf)"},
	{"network", OPT_NETWORK, 1, 1, "NAME     network name; items are bound to it (default main)"},
	{"rpcbind", OPT_RPCBIND, 1, 1, "HOST:PORT JSON-RPC address (default 127.0.0.1:8632)"},
	{"rpcauth", OPT_RPCAUTH, 1, 1, "USER:SALT$HMAC  extra RPC user (repeatable; see rumor-tx rpcauth; default: none)"},
	{"loglevel", OPT_LOGLEVEL, 1, 1, "LEVEL   debug, info, warn or error (default info)"},
	{"blockproducer", OPT_BLOCKPRODUCER, 1, 1,
	 "PUBKEY  allowed block producer (repeatable; default: anyone)"},
	{"rpcmaxbody", OPT_RPCMAXBODY, 1, 1, "BYTES largest RPC request body (default 33554432)"},
	{"rpcmaxclients", OPT_RPCMAXCLIENTS, 1, 1, "N  most RPC connections at once (default 64)"},
	{"rpctimeout", OPT_RPCTIMEOUT, 1, 1, "SECONDS  idle RPC connection timeout (default 30)"},
	{"listen", OPT_LISTEN, 1, 1,
	 "HOST:PORT  accept peers on this numeric address (default 0.0.0.0:8633; port 0: any)"},
	{"nolisten", OPT_NOLISTEN, 2, 1, "          do not accept peer connections, only dial out (default: off; nolisten=1 in the file)"},
	{"connect", OPT_CONNECT, 1, 1,
	 "[NODEID@]HOST:PORT  keep a connection to this peer (repeatable; default: none)"},
	{"addnode", OPT_ADDNODE, 1, 1,
	 "[NODEID@]HOST:PORT  static peer, redialled when it drops (repeatable; as --connect; default: none)"},
	{"invflushms", OPT_INVFLUSHMS, 1, 1,
	 "MS   batch transaction announcements for MS milliseconds (default 5; 0-60000)"},
	{"invpoisson", OPT_INVPOISSON, 2, 1,
	 "        randomise announcement delays (exponential, mean --invflushms) for privacy (default: off)"},
	{"network-psk", OPT_NETWORK_PSK, 1, 1,
	 "FILE  pre-shared network key: 64 hex characters and a newline (default: none)"},
	{"maxinbound", OPT_MAXINBOUND, 1, 1,
	 "N      most inbound peers past the handshake; when full, a newcomer evicts one (default 64)"},
	{"maxhandshakes", OPT_MAXHANDSHAKES, 1, 1,
	 "N   most inbound connections still in the handshake (default 16)"},
	{"maxhandshakespernetgroup", OPT_MAXHANDSHAKESPERNETGROUP, 1, 1,
	 "N  most inbound handshakes from one network group, IPv4 /16 or IPv6 /32 (default 4)"},
	{"maxinboundperip", OPT_MAXINBOUNDPERIP, 1, 1,
	 "N deprecated: sets --maxhandshakespernetgroup (default 4)"},
	{"loopbacknetgroups", OPT_LOOPBACKNETGROUPS, 2, 1,
	 " for tests only: each 127.a.0.0/16 is a network group of its own (default: off)"},
	{"logfile", OPT_LOGFILE, 1, 1,
	 "FILE     append the log to FILE, reopened on SIGHUP (default: stderr)"},
	{"metricsbind", OPT_METRICSBIND, 1, 1,
	 "HOST:PORT  serve GET /metrics (Prometheus) and /health here (default: off)"},
	{"rpcallowremote", OPT_RPCALLOWREMOTE, 2, 1,
	 "     allow a non-loopback --rpcbind: HTTP Basic auth without TLS (default: off)"},
	{"peerserverate", OPT_PEERSERVERATE, 1, 1,
	 "BYTES  item bytes served to one peer per second (getdata); over it, its requests wait (default 8388608; 1048576-1099511627776)"},
	{"peerserveburst", OPT_PEERSERVEBURST, 1, 1,
	 "BYTES  item bytes served to one peer at once before --peerserverate applies (default 33554432; 4194304-1099511627776)"},
	{"help", OPT_HELP, 0, 0, "              show this help"},
	{"version", OPT_VERSION, 0, 0, "           show the version"},
};
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

void rumor_config_defaults(struct rumor_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	const char *home = getenv("HOME");
	snprintf(cfg->datadir, sizeof(cfg->datadir), "%s/.rumor", home && *home ? home : ".");
	snprintf(cfg->network, sizeof(cfg->network), "main");
	snprintf(cfg->rpc_host, sizeof(cfg->rpc_host), "127.0.0.1");
	cfg->rpc_port = RUMOR_DEFAULT_RPC_PORT;
	cfg->log_level = RUMOR_LOG_INFO;
	cfg->rpc_max_body = 32u * 1024 * 1024;
	cfg->rpc_max_clients = 64;
	cfg->rpc_timeout_s = 30;
	cfg->listen = 1;
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "0.0.0.0");
	cfg->listen_port = RUMOR_DEFAULT_P2P_PORT;
	cfg->max_inbound = 64;
	cfg->max_handshakes = 16;
	cfg->max_handshakes_per_netgroup = 4;
	cfg->inv_flush_ms = 5;
	cfg->peer_serve_rate = RUMOR_CORE_SERVE_RATE_DEFAULT;
	cfg->peer_serve_burst = RUMOR_CORE_SERVE_BURST_DEFAULT;
}

int rumor_parse_hostport(const char *s, char *host, size_t hostcap, int *port)
{
	const char *colon;
	const char *h = s;
	size_t hlen;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen))
			return -1; /* bare IPv6 needs brackets */
	}
	if (hlen == 0 || hlen >= hostcap)
		return -1;
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

int rumor_parse_connect(const char *s, struct rumor_connect_target *out)
{
	memset(out, 0, sizeof(*out));
	const char *at = strchr(s, '@');
	if (at) {
		if (at - s != 64 || rumor_hex_decode(s, 64, out->id) != 32)
			return -1;
		out->has_id = 1;
		s = at + 1;
	}
	if (rumor_parse_hostport(s, out->host, sizeof(out->host), &out->port) || out->port == 0)
		return -1;
	for (const char *p = out->host; *p; p++)
		if (*p <= ' ' || *p == '/' || *p == '@' || (unsigned char)*p >= 0x7f)
			return -1;
	return 0;
}

static int is_numeric_address(const char *host)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (*s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Applies one option.  Returns NULL or a reason. */
static const char *apply(struct rumor_config *cfg, const struct option_spec *opt, const char *value)
{
	uint64_t n;
	switch (opt->id) {
	case OPT_DATADIR:
		if (!*value || strlen(value) >= sizeof(cfg->datadir) - 64)
			return "datadir must be a non-empty path";
		snprintf(cfg->datadir, sizeof(cfg->datadir), "%s", value);
		return NULL;
	case OPT_CONF:
		if (!*value || strlen(value) >= sizeof(cfg->conf))
			return "conf must be a non-empty path";
		snprintf(cfg->conf, sizeof(cfg->conf), "%s", value);
		cfg->conf_given = 1;
		return NULL;
	case OPT_NETWORK: {
		struct rumor_network net;
		if (rumor_network_init(&net, value) != 0)
			return "network name must be 1-32 characters of A-Z a-z 0-9 . _ -";
		snprintf(cfg->network, sizeof(cfg->network), "%s", value);
		return NULL;
	}
	case OPT_RPCBIND:
		if (rumor_parse_hostport(value, cfg->rpc_host, sizeof(cfg->rpc_host), &cfg->rpc_port))
			return "rpcbind must be HOST:PORT (numeric address, port 0-65535; [IPv6]:PORT)";
		return NULL;
	case OPT_RPCAUTH: {
		if (cfg->n_rpcauth >= RUMOR_RPCAUTH_MAX)
			return "too many rpcauth entries";
		struct rumor_auth probe;
		rumor_auth_init(&probe);
		const char *why = rumor_auth_add_rpcauth(&probe, value);
		if (why)
			return why;
		snprintf(cfg->rpcauth[cfg->n_rpcauth++], sizeof(cfg->rpcauth[0]), "%s", value);
		return NULL;
	}
	case OPT_LOGLEVEL:
		if (rumor_log_parse_level(value, &cfg->log_level))
			return "loglevel must be debug, info, warn or error";
		return NULL;
	case OPT_BLOCKPRODUCER:
		if (cfg->n_producers >= RUMOR_PRODUCERS_MAX)
			return "too many blockproducer entries";
		if (strlen(value) != 64 ||
		    rumor_hex_decode(value, 64, cfg->producers[cfg->n_producers]) != 32)
			return "blockproducer must be a 64-hex-character public key";
		cfg->n_producers++;
		return NULL;
	case OPT_RPCMAXBODY:
		if (parse_u64(value, 1024, 1024ull * 1024 * 1024, &n))
			return "rpcmaxbody must be a number of bytes from 1024 to 1073741824";
		cfg->rpc_max_body = (size_t)n;
		return NULL;
	case OPT_RPCMAXCLIENTS:
		if (parse_u64(value, 1, 65536, &n))
			return "rpcmaxclients must be a number from 1 to 65536";
		cfg->rpc_max_clients = (unsigned)n;
		return NULL;
	case OPT_RPCTIMEOUT:
		if (parse_u64(value, 1, 86400, &n))
			return "rpctimeout must be a number of seconds from 1 to 86400";
		cfg->rpc_timeout_s = (unsigned)n;
		return NULL;
	case OPT_LISTEN:
		if (rumor_parse_hostport(value, cfg->listen_host, sizeof(cfg->listen_host),
					 &cfg->listen_port) ||
		    !is_numeric_address(cfg->listen_host))
			return "listen must be HOST:PORT with a numeric address (port 0-65535; "
			       "[IPv6]:PORT)";
		cfg->listen_given = 1;
		return NULL;
	case OPT_NOLISTEN:
		if (strcmp(value, "") == 0 || strcmp(value, "1") == 0)
			cfg->listen = 0;
		else if (strcmp(value, "0") == 0)
			cfg->listen = 1;
		else
			return "nolisten takes no value (or 1/0 in the config file)";
		return NULL;
	case OPT_CONNECT:
	case OPT_ADDNODE:
		if (cfg->n_connect >= RUMOR_CONNECT_MAX)
			return opt->id == OPT_CONNECT
				       ? "too many connect and addnode entries (at most 64)"
				       : "too many addnode and connect entries (at most 64)";
		if (rumor_parse_connect(value, &cfg->connect[cfg->n_connect]))
			return opt->id == OPT_CONNECT
				       ? "connect must be [NODEID@]HOST:PORT (NODEID: 64 hex characters; "
					 "port 1-65535; [IPv6]:PORT)"
				       : "addnode must be [NODEID@]HOST:PORT (NODEID: 64 hex characters; "
					 "port 1-65535; [IPv6]:PORT)";
		cfg->n_connect++;
		return NULL;
	case OPT_INVFLUSHMS:
		if (parse_u64(value, 0, 60000, &n))
			return "invflushms must be a number of milliseconds from 0 to 60000";
		cfg->inv_flush_ms = (unsigned)n;
		return NULL;
	case OPT_INVPOISSON:
		if (strcmp(value, "") == 0 || strcmp(value, "1") == 0)
			cfg->inv_poisson = 1;
		else if (strcmp(value, "0") == 0)
			cfg->inv_poisson = 0;
		else
			return "invpoisson takes no value (or 1/0 in the config file)";
		return NULL;
	case OPT_NETWORK_PSK: {
		static char why[RUMOR_PATH_MAX + 128];
		if (!*value || strlen(value) >= sizeof(cfg->psk_file))
			return "network-psk must be a non-empty path";
		int rc = rumor_keyfile_read(value, cfg->psk);
		if (rc == -EINVAL) {
			snprintf(why, sizeof(why),
				 "network-psk file %s must hold 64 hex characters and a newline",
				 value);
			return why;
		}
		if (rc != 0) {
			snprintf(why, sizeof(why), "network-psk: cannot read %s: %s", value,
				 strerror(-rc));
			return why;
		}
		snprintf(cfg->psk_file, sizeof(cfg->psk_file), "%s", value);
		cfg->has_psk = 1;
		return NULL;
	}
	case OPT_MAXINBOUND:
		if (parse_u64(value, 0, RUMOR_CORE_INBOUND_MAX, &n))
			return "maxinbound must be a number from 0 to 1024";
		cfg->max_inbound = (unsigned)n;
		return NULL;
	case OPT_MAXINBOUNDPERIP:
		if (parse_u64(value, 1, RUMOR_CORE_INBOUND_MAX, &n))
			return "maxinboundperip must be a number from 1 to 1024";
		cfg->max_handshakes_per_netgroup = (unsigned)n;
		return NULL;
	case OPT_MAXHANDSHAKES:
		if (parse_u64(value, 1, RUMOR_CORE_INBOUND_MAX, &n))
			return "maxhandshakes must be a number from 1 to 1024";
		cfg->max_handshakes = (unsigned)n;
		return NULL;
	case OPT_MAXHANDSHAKESPERNETGROUP:
		if (parse_u64(value, 1, RUMOR_CORE_INBOUND_MAX, &n))
			return "maxhandshakespernetgroup must be a number from 1 to 1024";
		cfg->max_handshakes_per_netgroup = (unsigned)n;
		return NULL;
	case OPT_LOOPBACKNETGROUPS:
		if (strcmp(value, "") == 0 || strcmp(value, "1") == 0)
			cfg->loopback_netgroups = 1;
		else if (strcmp(value, "0") == 0)
			cfg->loopback_netgroups = 0;
		else
			return "loopbacknetgroups takes no value (or 1/0 in the config file)";
		return NULL;
	case OPT_LOGFILE:
		if (!*value || strlen(value) >= sizeof(cfg->logfile))
			return "logfile must be a non-empty path";
		snprintf(cfg->logfile, sizeof(cfg->logfile), "%s", value);
		return NULL;
	case OPT_METRICSBIND:
		if (rumor_parse_hostport(value, cfg->metrics_host, sizeof(cfg->metrics_host),
					 &cfg->metrics_port) ||
		    !is_numeric_address(cfg->metrics_host))
			return "metricsbind must be HOST:PORT with a numeric address (port 0-65535; "
			       "[IPv6]:PORT)";
		cfg->metrics = 1;
		return NULL;
	case OPT_RPCALLOWREMOTE:
		if (strcmp(value, "") == 0 || strcmp(value, "1") == 0)
			cfg->rpc_allow_remote = 1;
		else if (strcmp(value, "0") == 0)
			cfg->rpc_allow_remote = 0;
		else
			return "rpcallowremote takes no value (or 1/0 in the config file)";
		return NULL;
	case OPT_PEERSERVERATE:
		/* Below 1 MiB/s a full block past the burst would wait over 4 s,
		 * twice an honest requester's 2 s request timeout. */
		if (parse_u64(value, UINT64_C(1) << 20, RUMOR_BUCKET_MAX, &n))
			return "peerserverate must be a number of bytes per second from 1048576 to "
			       "1099511627776";
		cfg->peer_serve_rate = n;
		return NULL;
	case OPT_PEERSERVEBURST:
		/* At least one full block, so a block is served at once when the
		 * peer has not been served lately. */
		if (parse_u64(value, RUMOR_BLOCK_SIZE_MAX, RUMOR_BUCKET_MAX, &n))
			return "peerserveburst must be a number of bytes from 4194304 to 1099511627776";
		cfg->peer_serve_burst = n;
		return NULL;
	case OPT_HELP:
		cfg->show_help = 1;
		return NULL;
	case OPT_VERSION:
		cfg->show_version = 1;
		return NULL;
	}
	return "unknown option";
}

static const struct option_spec *find_option(const char *name, size_t len)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
			return &options[i];
	return NULL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* A '#' at the start of a line, or after a space or tab, starts a comment
 * that runs to the end of the line ("rpcbind=127.0.0.1:8632  # local only").
 * A '#' inside a value (no space before it) is kept: "rpcauth=u:s$h#x"
 * stays whole. */
static void strip_comment(char *line)
{
	for (char *p = line; *p; p++) {
		if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

int rumor_config_read_file(struct rumor_config *cfg, const char *path, int must_exist, char *err,
			   size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		/* A missing default file is fine; so is a datadir that does not
		 * exist yet (or cannot: start-up then says why, about the datadir). */
		if ((errno == ENOENT || errno == ENOTDIR) && !must_exist)
			return 0;
		snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
		return -1;
	}
	char line[1024];
	unsigned lineno = 0;
	int rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line too long (limit %zu bytes)", path, lineno,
				 sizeof(line) - 2);
			rc = -1;
			break;
		}
		strip_comment(line);
		char *s = trim(line);
		if (*s == '\0')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected name=value, got '%s'", path, lineno, s);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *name = trim(s);
		char *value = trim(eq + 1);
		const struct option_spec *opt = find_option(name, strlen(name));
		if (!opt || !opt->in_file) {
			snprintf(err, errlen, "%s:%u: unknown option '%s'", path, lineno, name);
			rc = -1;
			break;
		}
		const char *why = apply(cfg, opt, value);
		if (why) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

int rumor_config_load(struct rumor_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct option longopts[N_OPTIONS + 1];
	for (size_t i = 0; i < N_OPTIONS; i++) {
		longopts[i].name = options[i].name;
		longopts[i].has_arg = options[i].takes_value == 1 ? required_argument : no_argument;
		longopts[i].flag = NULL;
		longopts[i].val = (int)options[i].id;
	}
	memset(&longopts[N_OPTIONS], 0, sizeof(longopts[0]));

	/* Pass 1: validate everything, apply only what locates the file. */
	struct rumor_config scratch = *cfg;
	opterr = 0;
	optind = 1;
	for (;;) {
		int idx = -1;
		int c = getopt_long(argc, argv, "", longopts, &idx);
		if (c == -1)
			break;
		if (c == '?' || c == ':') {
			const char *arg = argv[optind - 1];
			if (c == ':' || (optopt && optopt != 0))
				snprintf(err, errlen, "option '%s' needs a value", arg);
			else
				snprintf(err, errlen, "unknown option '%s' (see --help)", arg);
			return -1;
		}
		const struct option_spec *opt = &options[idx];
		const char *why = apply(&scratch, opt, optarg ? optarg : "");
		if (why) {
			snprintf(err, errlen, "--%s: %s", opt->name, why);
			return -1;
		}
		if (opt->id == OPT_DATADIR || opt->id == OPT_CONF || opt->id == OPT_HELP ||
		    opt->id == OPT_VERSION)
			apply(cfg, opt, optarg ? optarg : "");
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (options are --name=value)",
			 argv[optind]);
		return -1;
	}
	if (cfg->show_help || cfg->show_version)
		return 0;

	/* The config file. */
	char path[RUMOR_PATH_MAX + 16];
	if (cfg->conf_given)
		snprintf(path, sizeof(path), "%s", cfg->conf);
	else
		snprintf(path, sizeof(path), "%s/rumor.conf", cfg->datadir);
	if (rumor_config_read_file(cfg, path, cfg->conf_given, err, errlen))
		return -1;

	/* Pass 2: the command line wins. */
	optind = 1;
	for (;;) {
		int idx = -1;
		int c = getopt_long(argc, argv, "", longopts, &idx);
		if (c == -1)
			break;
		const struct option_spec *opt = &options[idx];
		if (opt->id == OPT_DATADIR || opt->id == OPT_CONF)
			continue;
		const char *why = apply(cfg, opt, optarg ? optarg : "");
		if (why) { /* cannot happen: pass 1 checked it */
			snprintf(err, errlen, "--%s: %s", opt->name, why);
			return -1;
		}
	}
	return 0;
}

void rumor_config_usage(const char *prog)
{
	printf("Usage: %s [OPTIONS]\n\n"
	       "rumord: relay node for signed transactions and blocks.\n"
	       "Every option but --datadir, --conf, --help and --version can also be given\n"
	       "as name=value in the config file (see contrib/rumor.conf.example).\n\n",
	       prog);
	for (size_t i = 0; i < N_OPTIONS; i++)
		printf("  --%s%s%s\n", options[i].name, options[i].takes_value == 1 ? "=" : "",
		       options[i].help);
	printf("\nSee rumord(1), doc/rpc.md.\n");
}

int rumor_is_loopback(const char *host)
{
	unsigned char buf[16];
	if (inet_pton(AF_INET, host, buf) == 1)
		return buf[0] == 127;
	if (inet_pton(AF_INET6, host, buf) == 1) {
		static const unsigned char one[16] = {[15] = 1};
		return memcmp(buf, one, 16) == 0;
	}
	return 0;
}

int rumor_config_check(const struct rumor_config *cfg, char *err, size_t errlen)
{
	/* Refused rather than warned about: the RPC port sends credentials
	 * (Basic auth: the cookie or an rpcauth password) in clear text and
	 * can stop the node or feed it items, so exposing it must be a
	 * decision written down, not a default somebody typed by mistake. */
	if (!rumor_is_loopback(cfg->rpc_host) && !cfg->rpc_allow_remote) {
		snprintf(err, errlen,
			 "--rpcbind=%s%s%s:%d is not a loopback address: the JSON-RPC port uses "
			 "HTTP Basic authentication without TLS, so anyone on that network could "
			 "read the credentials and control the node; bind to 127.0.0.1, or pass "
			 "--rpcallowremote (rpcallowremote=1 in rumor.conf) to expose it anyway",
			 strchr(cfg->rpc_host, ':') ? "[" : "", cfg->rpc_host,
			 strchr(cfg->rpc_host, ':') ? "]" : "", cfg->rpc_port);
		return -1;
	}
	return 0;
}
