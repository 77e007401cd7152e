/*
 * src/options.h: rumord's settings, from the command line and a config file.
 *
 * Every option is a GNU long option (--name=value) and may also appear as a
 * `name=value` line in the config file (DATADIR/rumor.conf, or --conf=FILE).
 * Command-line values win over the file; repeatable options (rpcauth,
 * blockproducer, connect, addnode) collect from both.  One table (options.c) describes every
 * option, so the two syntaxes cannot drift apart.
 *
 * Errors are reported into a caller buffer as one line naming the option and,
 * for the file, "FILE:LINE".
 */
#ifndef RUMOR_SRC_OPTIONS_H
#define RUMOR_SRC_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/item.h"
#include "rpc/auth.h"
#include "src/log.h"

#define RUMOR_DEFAULT_RPC_PORT 8632
#define RUMOR_DEFAULT_P2P_PORT 8633
#define RUMOR_PATH_MAX 4096
#define RUMOR_CONNECT_MAX 64      /* --connect and --addnode entries together */
#define RUMOR_CONNECT_HOST_MAX 256 /* host name or address, with the NUL */

/* One --connect=[NODEID@]HOST:PORT: HOST is a numeric IPv4/IPv6 address
 * or a name resolved when dialing. */
struct rumor_connect_target {
	int has_id;
	uint8_t id[32];
	char host[RUMOR_CONNECT_HOST_MAX];
	int port; /* 1..65535 */
};

struct rumor_config {
	char datadir[RUMOR_PATH_MAX];
	char conf[RUMOR_PATH_MAX]; /* "" = DATADIR/rumor.conf if it exists */
	int conf_given;
	char network[RUMOR_NETWORK_NAME_MAX + 1];
	char rpc_host[64];
	int rpc_port;
	size_t n_rpcauth;
	char rpcauth[RUMOR_RPCAUTH_MAX][256];
	enum rumor_log_level log_level;
	size_t n_producers;
	uint8_t producers[RUMOR_PRODUCERS_MAX][RUMOR_PUBKEY_SIZE];
	size_t rpc_max_body;
	unsigned rpc_max_clients;
	unsigned rpc_timeout_s;
	/* peer-to-peer */
	int listen;         /* 0 after --nolisten */
	int listen_given;   /* --listen was set explicitly */
	char listen_host[64]; /* numeric address */
	int listen_port;    /* 0: any free port */
	size_t n_connect;
	struct rumor_connect_target connect[RUMOR_CONNECT_MAX];
	int has_psk;
	uint8_t psk[32];    /* from --network-psk=FILE */
	char psk_file[RUMOR_PATH_MAX];
	unsigned max_inbound;         /* peers past the handshake */
	unsigned max_handshakes;      /* inbound connections in the handshake */
	unsigned max_handshakes_per_netgroup; /* ... from one network group
					       * (--maxinboundperip too) */
	int loopback_netgroups;       /* test-only: 127.a/16 each a group */
	/* relay */
	unsigned inv_flush_ms; /* announcement batch interval (default 5) */
	int inv_poisson;       /* randomised (Poisson) delays of that mean */
	uint64_t peer_serve_rate;  /* getdata serving budget per peer, bytes/s */
	uint64_t peer_serve_burst; /* its burst, bytes */
	/* service */
	char logfile[RUMOR_PATH_MAX]; /* "" = stderr */
	int metrics;                  /* --metricsbind given */
	char metrics_host[64];        /* numeric */
	int metrics_port;
	int rpc_allow_remote;         /* --rpcallowremote */
	int show_help;
	int show_version;
};

/* Defaults; datadir from $HOME/.rumor. */
void rumor_config_defaults(struct rumor_config *cfg);
/* Parses argv and then the config file.  Returns 0, or -1 with err set. */
int rumor_config_load(struct rumor_config *cfg, int argc, char **argv, char *err, size_t errlen);
/* Reads one config file on top of cfg (what rumor_config_load does between
 * its two passes; rumor-cli uses it for rpcbind and network).  A missing
 * file is fine unless must_exist.  Returns 0, or -1 with err set. */
int rumor_config_read_file(struct rumor_config *cfg, const char *path, int must_exist, char *err,
			   size_t errlen);
/* Checks the settings as a whole, after rumor_config_load: a non-loopback
 * rpcbind needs rpc_allow_remote.  Returns 0, or -1 with err set. */
int rumor_config_check(const struct rumor_config *cfg, char *err, size_t errlen);
/* 1 when host is a numeric loopback address (127.0.0.0/8 or ::1). */
int rumor_is_loopback(const char *host);
/* Usage text for --help. */
void rumor_config_usage(const char *prog);

/* "HOST:PORT" or "[V6]:PORT" -> host, port (0..65535).  Returns 0 or -1. */
int rumor_parse_hostport(const char *s, char *host, size_t hostcap, int *port);
/* "[NODEID@]HOST:PORT" (NODEID: 64 hex, port 1..65535).  Returns 0 or -1. */
int rumor_parse_connect(const char *s, struct rumor_connect_target *out);

#endif
