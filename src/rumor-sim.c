/*
 * src/rumor-sim.c: runs N rumor node cores (net/core.h, the code rumord
 * runs) in one process on a virtual network, from one seed, and prints one
 * JSON report (rumor-sim(1), doc/design.md "rumor-sim").
 *
 * This file holds the command line, the report, the plot and the sweep;
 * src/sim_world.c is the shell that drives the cores, src/sim_net.c the
 * event engine, src/sim_store.c the in-memory store and src/sim_topology.c
 * the graph.
 *
 * Exit status: 0 the run completed with every invariant holding, 1 an
 * invariant broke (the report and stderr say which, with the seed and the
 * command that replays it), 2 bad arguments (a message on stderr), 3 the
 * run could not happen (out of memory, gnuplot missing for --plot).
 *
 * Determinism: the report is a function of the arguments alone, except its
 * last two keys, wall_s and events_per_s, which measure the host.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/sign.h"
#include "src/sim_world.h"

#define EXIT_INVARIANT 1
#define EXIT_USAGE 2
#define EXIT_RUN 3
#define CRASH_AT_MAX 1024
#define SWEEP_MAX 16

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: rumor-sim [OPTIONS]\n"
		"Runs N rumor node cores on a virtual network from one seed; prints one JSON report.\n"
		"\n"
		"  --seed=N                 the seed of everything (default 1)\n"
		"  --topology=FILE          graph {\"n\": N, \"edges\": [[a, b], ...]} (a dials b)\n"
		"  --nodes=N --degree=K     or a seeded random graph (default 100 nodes, degree 8)\n"
		"  --latency=SPEC           fixed:MS, uniform:A-B or lognormal:MEDIAN,SIGMA, one-way,\n"
		"                           drawn once per node pair (default uniform:10-100)\n"
		"  --bandwidth=BYTES/S      upload rate per node, messages queue (default unlimited)\n"
		"  --items=M --size=S       items and transaction payload bytes (default 100, 250)\n"
		"  --rate=R                 items per virtual second, 0 all at once (default 0)\n"
		"  --blocks=FRACTION        share of items that are blocks (default 0)\n"
		"  --inject=NODE|random     where items are submitted (default 0)\n"
		"  --start=S                virtual second of the first submission (default 1)\n"
		"  --verify=skip|real       signature check (default skip)\n"
		"  --store-delay=US         store answers after this many virtual us (default 0)\n"
		"  --verify-delay=SPEC      validation takes this long per item (a latency SPEC;\n"
		"                           default: no time)\n"
		"  --partition=T1:T2:FRACTION  cut FRACTION of the nodes off from T1 to T2 (seconds)\n"
		"  --crash=RATE             crashes per live node per virtual second\n"
		"  --downtime=S             how long a crashed node stays down (default 5)\n"
		"  --crash-at=T:NODE[:S|never]  crash NODE at T seconds (repeatable)\n"
		"  --reset=RATE             connection resets per connection per virtual second\n"
		"  --stall=RATE:MS          connection stalls per connection per second, and length\n"
		"  --lose=FRACTION          silently lose messages inside live connections (a test\n"
		"                           hook: TCP never does this, the invariants must catch it)\n"
		"  --duplicate=FRACTION     deliver messages twice (likewise a test hook)\n"
		"  --max-time=S             end of the run at the latest (default 3600)\n"
		"  --quiet=S                end after S seconds without network events (default 5)\n"
		"  --max-peers=N            core max_peers (default 64)\n"
		"  --cache-items=N          core cache_items (default 64)\n"
		"  --peer-msg-rate=N        core peer_msg_rate, burst 2N (default the core's)\n"
		"  --block-slice=N          core block_slice (default the core's, 8192)\n"
		"  --plot=FILE.png          draw the delivery curve (gnuplot)\n"
		"  --sweep=N1,N2,...        run random graphs of these sizes; report the growth\n"
		"  --verbose                core warnings to stderr\n"
		"  --help, --version\n"
		"Exit status: 0 ok, 1 an invariant broke, 2 bad arguments, 3 the run could not happen.\n");
}

static char prog_args[8192]; /* the command line, for the replay hint */

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int bad(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "rumor-sim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'rumor-sim --help'.\n");
	return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double min, double max, double *out, const char **end_out)
{
	char *end;
	if (!((*s >= '0' && *s <= '9') || *s == '.'))
		return -EINVAL;
	double v = strtod(s, &end);
	if (end == s || !isfinite(v) || v < min || v > max)
		return -EINVAL;
	if (end_out != NULL)
		*end_out = end;
	else if (*end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

static uint64_t seconds_us(double s)
{
	return (uint64_t)llround(s * 1e6);
}

struct options {
	struct sim_config cfg;
	const char *topology_file;
	uint64_t nodes, degree;
	int nodes_given, degree_given;
	const char *plot;
	uint64_t sweep[SWEEP_MAX];
	size_t n_sweep;
	struct sim_crash_at crash_at[CRASH_AT_MAX];
	size_t n_crash_at;
};

static int parse_args(int argc, char **argv, struct options *o)
{
	enum {
		O_SEED = 256, O_TOPOLOGY, O_NODES, O_DEGREE, O_LATENCY, O_BANDWIDTH, O_ITEMS, O_SIZE,
		O_RATE, O_BLOCKS, O_INJECT, O_START, O_VERIFY, O_VERIFY_DELAY, O_STORE_DELAY, O_PARTITION, O_CRASH,
		O_DOWNTIME, O_CRASH_AT, O_RESET, O_STALL, O_MAX_TIME, O_QUIET, O_MAX_PEERS,
		O_CACHE_ITEMS, O_PEER_MSG_RATE, O_BLOCK_SLICE, O_LOSE, O_DUPLICATE, O_PLOT, O_SWEEP, O_VERBOSE, O_HELP, O_VERSION,
	};
	static const struct option options[] = {
		{"seed", required_argument, NULL, O_SEED},
		{"topology", required_argument, NULL, O_TOPOLOGY},
		{"nodes", required_argument, NULL, O_NODES},
		{"degree", required_argument, NULL, O_DEGREE},
		{"latency", required_argument, NULL, O_LATENCY},
		{"bandwidth", required_argument, NULL, O_BANDWIDTH},
		{"items", required_argument, NULL, O_ITEMS},
		{"size", required_argument, NULL, O_SIZE},
		{"rate", required_argument, NULL, O_RATE},
		{"blocks", required_argument, NULL, O_BLOCKS},
		{"inject", required_argument, NULL, O_INJECT},
		{"start", required_argument, NULL, O_START},
		{"verify", required_argument, NULL, O_VERIFY},
		{"store-delay", required_argument, NULL, O_STORE_DELAY},
		{"verify-delay", required_argument, NULL, O_VERIFY_DELAY},
		{"partition", required_argument, NULL, O_PARTITION},
		{"crash", required_argument, NULL, O_CRASH},
		{"downtime", required_argument, NULL, O_DOWNTIME},
		{"crash-at", required_argument, NULL, O_CRASH_AT},
		{"reset", required_argument, NULL, O_RESET},
		{"stall", required_argument, NULL, O_STALL},
		{"max-time", required_argument, NULL, O_MAX_TIME},
		{"quiet", required_argument, NULL, O_QUIET},
		{"max-peers", required_argument, NULL, O_MAX_PEERS},
		{"cache-items", required_argument, NULL, O_CACHE_ITEMS},
		{"block-slice", required_argument, NULL, O_BLOCK_SLICE},
		{"peer-msg-rate", required_argument, NULL, O_PEER_MSG_RATE},
		{"lose", required_argument, NULL, O_LOSE},
		{"duplicate", required_argument, NULL, O_DUPLICATE},
		{"plot", required_argument, NULL, O_PLOT},
		{"sweep", required_argument, NULL, O_SWEEP},
		{"verbose", no_argument, NULL, O_VERBOSE},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	struct sim_config *c = &o->cfg;
	const char *why;
	int opt;
	double d;
	uint64_t u;
	memset(o, 0, sizeof(*o));
	c->seed = 1;
	o->nodes = 100;
	o->degree = 8;
	sim_latency_parse(&c->latency, "uniform:10-100", &why);
	c->items = 100;
	c->size = 250;
	c->rate = 0;
	c->inject = 0;
	c->start_us = 1000000;
	c->downtime_us = 5000000;
	c->max_time_us = seconds_us(3600);
	c->quiet_us = 5000000;
	/* Smaller than the core's defaults, without changing what it does at
	 * these scales (see rumor-sim(1)): no node has more than 64 peers, and
	 * a getdata the 64-item cache cannot serve is served from the store,
	 * which answers at once. */
	c->max_peers = 64;
	c->cache_items = 64;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case O_SEED:
			if (parse_u64(optarg, UINT64_MAX, &c->seed) != 0)
				return bad("--seed needs a number from 0 to 2^64-1");
			break;
		case O_TOPOLOGY:
			o->topology_file = optarg;
			break;
		case O_NODES:
			if (parse_u64(optarg, SIM_NODES_MAX, &o->nodes) != 0 || o->nodes < 2)
				return bad("--nodes needs a number from 2 to %u", SIM_NODES_MAX);
			o->nodes_given = 1;
			break;
		case O_DEGREE:
			if (parse_u64(optarg, 1000, &o->degree) != 0 || o->degree < 2)
				return bad("--degree needs a number from 2 to 1000");
			o->degree_given = 1;
			break;
		case O_LATENCY:
			if (sim_latency_parse(&c->latency, optarg, &why) != 0)
				return bad("--latency=%s: %s", optarg, why);
			break;
		case O_BANDWIDTH:
			if (parse_u64(optarg, UINT64_C(1) << 40, &c->bandwidth) != 0 || c->bandwidth == 0)
				return bad("--bandwidth needs bytes per second, 1 to 2^40");
			break;
		case O_ITEMS:
			if (parse_u64(optarg, 10000000, &u) != 0)
				return bad("--items needs a number from 0 to 10000000");
			c->items = (uint32_t)u;
			break;
		case O_SIZE:
			if (parse_u64(optarg, RUMOR_TX_PAYLOAD_MAX, &u) != 0)
				return bad("--size needs payload bytes from 0 to %u", RUMOR_TX_PAYLOAD_MAX);
			c->size = (uint32_t)u;
			break;
		case O_RATE:
			if (parse_double(optarg, 0, 1e9, &c->rate, NULL) != 0)
				return bad("--rate needs items per second (0: all at once)");
			break;
		case O_BLOCKS:
			if (parse_double(optarg, 0, 1, &c->blocks, NULL) != 0)
				return bad("--blocks needs a fraction from 0 to 1");
			break;
		case O_INJECT:
			if (strcmp(optarg, "random") == 0) {
				c->inject = -1;
			} else if (parse_u64(optarg, SIM_NODES_MAX, &u) == 0) {
				c->inject = (int64_t)u;
			} else {
				return bad("--inject needs a node number or 'random'");
			}
			break;
		case O_START:
			if (parse_double(optarg, 0, 1e6, &d, NULL) != 0)
				return bad("--start needs seconds");
			c->start_us = seconds_us(d);
			break;
		case O_VERIFY:
			if (strcmp(optarg, "skip") == 0)
				c->verify_real = 0;
			else if (strcmp(optarg, "real") == 0)
				c->verify_real = 1;
			else
				return bad("--verify needs skip or real");
			break;
		case O_VERIFY_DELAY:
			if (sim_latency_parse(&c->verify_delay, optarg, &why) != 0)
				return bad("--verify-delay=%s: %s", optarg, why);
			c->verify_delay_set = 1;
			break;
		case O_STORE_DELAY:
			if (parse_u64(optarg, 10000000, &c->store_delay_us) != 0)
				return bad("--store-delay needs microseconds, 0 to 10000000");
			break;
		case O_PARTITION: {
			const char *e;
			double t1, t2, f;
			if (parse_double(optarg, 0, 1e6, &t1, &e) != 0 || *e != ':' ||
			    parse_double(e + 1, 0, 1e6, &t2, &e) != 0 || *e != ':' ||
			    parse_double(e + 1, 0, 1, &f, NULL) != 0)
				return bad("--partition needs T1:T2:FRACTION (seconds, 0 <= FRACTION <= 1)");
			if (t2 < t1)
				return bad("--partition needs T1 <= T2");
			c->partition = 1;
			c->partition_t1_us = seconds_us(t1);
			c->partition_t2_us = seconds_us(t2);
			c->partition_fraction = f;
			break;
		}
		case O_CRASH:
			if (parse_double(optarg, 0, 1000, &c->crash_rate, NULL) != 0)
				return bad("--crash needs a rate per node per second");
			break;
		case O_DOWNTIME:
			if (parse_double(optarg, 0, 1e6, &d, NULL) != 0)
				return bad("--downtime needs seconds");
			c->downtime_us = seconds_us(d);
			break;
		case O_CRASH_AT: {
			const char *e;
			double t;
			struct sim_crash_at *ca = &o->crash_at[o->n_crash_at];
			if (o->n_crash_at == CRASH_AT_MAX)
				return bad("at most %d --crash-at", CRASH_AT_MAX);
			if (parse_double(optarg, 0, 1e6, &t, &e) != 0 || *e != ':')
				return bad("--crash-at needs T:NODE[:DOWNTIME|never]");
			char node_text[32];
			const char *colon = strchr(e + 1, ':');
			size_t nl = colon ? (size_t)(colon - (e + 1)) : strlen(e + 1);
			if (nl == 0 || nl >= sizeof(node_text))
				return bad("--crash-at needs T:NODE[:DOWNTIME|never]");
			memcpy(node_text, e + 1, nl);
			node_text[nl] = '\0';
			if (parse_u64(node_text, SIM_NODES_MAX, &u) != 0)
				return bad("--crash-at needs T:NODE[:DOWNTIME|never]");
			ca->at_us = seconds_us(t);
			ca->node = (uint32_t)u;
			ca->downtime_us = UINT64_MAX - 1; /* the --downtime default, set below */
			if (colon != NULL) {
				if (strcmp(colon + 1, "never") == 0)
					ca->downtime_us = UINT64_MAX;
				else if (parse_double(colon + 1, 0, 1e6, &d, NULL) == 0)
					ca->downtime_us = seconds_us(d);
				else
					return bad("--crash-at: DOWNTIME is seconds or 'never'");
			}
			o->n_crash_at++;
			break;
		}
		case O_RESET:
			if (parse_double(optarg, 0, 1000, &c->reset_rate, NULL) != 0)
				return bad("--reset needs a rate per connection per second");
			break;
		case O_STALL: {
			const char *e;
			double ms;
			if (parse_double(optarg, 0, 1000, &c->stall_rate, &e) != 0 || *e != ':' ||
			    parse_double(e + 1, 0, 600000, &ms, NULL) != 0)
				return bad("--stall needs RATE:MS");
			c->stall_us = (uint64_t)llround(ms * 1000);
			break;
		}
		case O_MAX_TIME:
			if (parse_double(optarg, 0.001, 4000, &d, NULL) != 0)
				return bad("--max-time needs seconds, at most 4000");
			c->max_time_us = seconds_us(d);
			break;
		case O_QUIET:
			if (parse_double(optarg, 0.001, 3600, &d, NULL) != 0)
				return bad("--quiet needs seconds");
			c->quiet_us = seconds_us(d);
			break;
		case O_MAX_PEERS:
			if (parse_u64(optarg, 1000000, &u) != 0 || u == 0)
				return bad("--max-peers needs a number from 1");
			c->max_peers = (uint32_t)u;
			break;
		case O_CACHE_ITEMS:
			if (parse_u64(optarg, 100000000, &u) != 0 || u == 0)
				return bad("--cache-items needs a number from 1");
			c->cache_items = (uint32_t)u;
			break;
		case O_BLOCK_SLICE:
			if (parse_u64(optarg, 1000000, &u) != 0 || u == 0)
				return bad("--block-slice needs a number from 1");
			c->block_slice = (uint32_t)u;
			break;
		case O_PEER_MSG_RATE:
			if (parse_u64(optarg, 1000000000, &u) != 0 || u == 0)
				return bad("--peer-msg-rate needs a number from 1 to 1000000000");
			c->peer_msg_rate = u;
			break;
		case O_LOSE:
			if (parse_double(optarg, 0, 1, &c->lose, NULL) != 0)
				return bad("--lose needs a fraction from 0 to 1");
			break;
		case O_DUPLICATE:
			if (parse_double(optarg, 0, 1, &c->duplicate, NULL) != 0)
				return bad("--duplicate needs a fraction from 0 to 1");
			break;
		case O_PLOT:
			if (strlen(optarg) < 5 || strcmp(optarg + strlen(optarg) - 4, ".png") != 0)
				return bad("--plot needs a file name ending in .png");
			o->plot = optarg;
			break;
		case O_SWEEP: {
			const char *s = optarg;
			o->n_sweep = 0;
			while (*s) {
				char part[32];
				const char *comma = strchr(s, ',');
				size_t l = comma ? (size_t)(comma - s) : strlen(s);
				if (l == 0 || l >= sizeof(part) || o->n_sweep == SWEEP_MAX)
					return bad("--sweep needs up to %d sizes: N1,N2,...", SWEEP_MAX);
				memcpy(part, s, l);
				part[l] = '\0';
				if (parse_u64(part, SIM_NODES_MAX, &o->sweep[o->n_sweep]) != 0 ||
				    o->sweep[o->n_sweep] < 3)
					return bad("--sweep: %s is not a node count from 3 to %u", part,
						   SIM_NODES_MAX);
				o->n_sweep++;
				s += l;
				if (*s == ',')
					s++;
			}
			if (o->n_sweep == 0)
				return bad("--sweep needs sizes");
			break;
		}
		case O_VERBOSE:
			c->verbose = 1;
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			exit(0);
		case O_VERSION:
			printf("rumor-sim %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			if (optopt != 0)
				return bad("option %s needs a value or takes none", argv[optind - 1]);
			return bad("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument %s", argv[optind]);
	if (o->topology_file != NULL && (o->nodes_given || o->degree_given))
		return bad("--topology and --nodes/--degree exclude each other");
	if (o->topology_file != NULL && o->n_sweep)
		return bad("--sweep draws random graphs: it excludes --topology");
	for (size_t k = 0; k < o->n_crash_at; k++)
		if (o->crash_at[k].downtime_us == UINT64_MAX - 1)
			o->crash_at[k].downtime_us = c->downtime_us;
	c->crash_at = o->crash_at;
	c->n_crash_at = o->n_crash_at;
	if (c->partition && c->partition_t1_us >= c->max_time_us)
		return bad("--partition starts after --max-time");
	return 0;
}

/* ---- the report ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank. */
static uint64_t percentile(const uint64_t *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

struct summary {
	uint32_t live;
	uint64_t stored_pairs, stored_bytes, deliveries;
	uint64_t hops[256];
	double hops_mean;
	uint32_t hops_max;
	uint64_t *to_all; /* per item that reached every live node, us; sorted */
	size_t n_to_all;
	uint64_t *delivery_us; /* per delivery from a peer: store time - submission; sorted */
	size_t n_delivery;
	uint32_t blocks;
	double item_bytes_mean;
};

static int summarise(const struct sim_world *w, struct summary *s)
{
	memset(s, 0, sizeof(*s));
	const struct sim_store *st = &w->store;
	for (uint32_t v = 0; v < w->n; v++)
		s->live += (uint32_t)sim_world_node_alive(w, v);
	s->to_all = malloc(((size_t)st->count + 1) * sizeof(*s->to_all));
	s->delivery_us = malloc(((size_t)st->count * w->n + 1) * sizeof(*s->delivery_us));
	if (s->to_all == NULL || s->delivery_us == NULL)
		return -ENOMEM;
	uint64_t hop_sum = 0, item_bytes = 0;
	for (uint32_t i = 0; i < st->count; i++) {
		if (st->items[i].kind == RUMOR_ITEM_BLOCK)
			s->blocks++;
		item_bytes += st->items[i].len;
		uint64_t t0 = w->inject_at[i];
		if (t0 == UINT64_MAX)
			continue;
		uint64_t last = 0;
		int all = 1;
		for (uint32_t v = 0; v < w->n; v++) {
			uint32_t t = sim_store_time(st, v, i);
			if (t == SIM_STORE_NONE) {
				if (sim_world_node_alive(w, v))
					all = 0;
				continue;
			}
			s->stored_pairs++;
			s->stored_bytes += st->items[i].len;
			uint8_t h = sim_store_hops(st, v, i);
			if (h == 0)
				continue; /* the node it was submitted to */
			s->hops[h]++;
			hop_sum += h;
			if (h > s->hops_max && h != 255)
				s->hops_max = h;
			s->deliveries++;
			s->delivery_us[s->n_delivery++] = t >= t0 ? t - t0 : 0;
			if (sim_world_node_alive(w, v) && t > last)
				last = t;
		}
		if (all)
			s->to_all[s->n_to_all++] = last > t0 ? last - t0 : 0;
	}
	s->item_bytes_mean = st->count ? (double)item_bytes / st->count : 0;
	s->hops_mean = s->deliveries ? (double)hop_sum / (double)s->deliveries : 0;
	qsort(s->to_all, s->n_to_all, sizeof(*s->to_all), cmp_u64);
	qsort(s->delivery_us, s->n_delivery, sizeof(*s->delivery_us), cmp_u64);
	return 0;
}

static void summary_free(struct summary *s)
{
	free(s->to_all);
	free(s->delivery_us);
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void print_report(FILE *out, const struct sim_world *w, const struct summary *s,
			 double wall_s)
{
	const struct sim_config *c = w->cfg;
	fprintf(out, "{\"seed\": %" PRIu64 ", \"nodes\": %u, \"edges\": %u, \"items\": %u", c->seed,
		w->n, c->topology->n_edges, w->store.count);
	fprintf(out, ", \"items_injected\": %u, \"blocks\": %u, \"item_bytes_mean\": %.1f",
		w->items_injected, s->blocks, s->item_bytes_mean);
	double expected = (double)s->live * w->items_injected;
	uint64_t live_pairs = 0;
	for (uint32_t i = 0; i < w->store.count; i++)
		for (uint32_t v = 0; v < w->n; v++)
			if (sim_world_node_alive(w, v) && sim_store_time(&w->store, v, i) != SIM_STORE_NONE)
				live_pairs++;
	fprintf(out, ", \"live_nodes\": %u, \"delivery_ratio\": %.6f, \"items_at_all_live\": %zu",
		s->live, expected > 0 ? (double)live_pairs / expected : 1.0, s->n_to_all);
	fprintf(out,
		", \"time_to_all_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f}",
		ms(percentile(s->to_all, s->n_to_all, 50)), ms(percentile(s->to_all, s->n_to_all, 90)),
		ms(percentile(s->to_all, s->n_to_all, 99)),
		ms(s->n_to_all ? s->to_all[s->n_to_all - 1] : 0));
	fprintf(out,
		", \"delivery_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f}",
		ms(percentile(s->delivery_us, s->n_delivery, 50)),
		ms(percentile(s->delivery_us, s->n_delivery, 90)),
		ms(percentile(s->delivery_us, s->n_delivery, 99)),
		ms(s->n_delivery ? s->delivery_us[s->n_delivery - 1] : 0));
	fprintf(out, ", \"hops\": {");
	int first = 1;
	for (int h = 1; h < 256; h++) {
		if (s->hops[h] == 0)
			continue;
		fprintf(out, "%s\"%d\": %" PRIu64, first ? "" : ", ", h, s->hops[h]);
		first = 0;
	}
	fprintf(out, "}, \"hops_mean\": %.4f, \"hops_max\": %u", s->hops_mean, s->hops_max);
	fprintf(out, ", \"deliveries\": %" PRIu64 ", \"duplicates\": %" PRIu64
		     ", \"duplicates_per_delivery\": %.6f",
		s->deliveries, w->duplicates,
		s->deliveries ? (double)w->duplicates / (double)s->deliveries : 0.0);
	fprintf(out, ", \"wire_bytes\": %" PRIu64 ", \"wire_ratio\": %.4f", w->wire_bytes,
		s->stored_bytes ? (double)w->wire_bytes / (double)s->stored_bytes : 0.0);
	fprintf(out, ", \"messages\": {");
	first = 1;
	for (int t = 1; t <= RUMOR_MSG_TYPE_LAST; t++) {
		if (w->msg_count[t] == 0)
			continue;
		fprintf(out, "%s\"%s\": %" PRIu64, first ? "" : ", ", rumor_msg_type_name((uint16_t)t),
			w->msg_count[t]);
		first = 0;
	}
	fprintf(out, "}, \"message_bytes\": {");
	first = 1;
	for (int t = 1; t <= RUMOR_MSG_TYPE_LAST; t++) {
		if (w->msg_count[t] == 0)
			continue;
		fprintf(out, "%s\"%s\": %" PRIu64, first ? "" : ", ", rumor_msg_type_name((uint16_t)t),
			w->msg_bytes[t]);
		first = 0;
	}
	fprintf(out,
		"}, \"max_core_bytes\": %zu, \"mean_core_bytes_at_end\": %.0f, \"store_bytes\": %zu"
		", \"message_buffer_bytes\": %zu",
		w->max_core_bytes, s->live ? (double)w->end_core_bytes / s->live : 0.0,
		sim_store_memory(&w->store), w->pool_bytes);
	fprintf(out,
		", \"faults\": {\"crashes\": %" PRIu64 ", \"restarts\": %" PRIu64
		", \"resets\": %" PRIu64 ", \"stalls\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"duplicated\": %" PRIu64 "}",
		w->crashes, w->restarts, w->resets, w->stalls, w->lost, w->duplicated);
	fprintf(out,
		", \"connects\": %" PRIu64 ", \"dial_failures\": %" PRIu64
		", \"request_timeouts\": %" PRIu64 ", \"verifications\": %" PRIu64,
		w->connects, w->dial_failures, w->request_timeouts, w->verifications);
	fprintf(out,
		", \"throttle_pauses\": %" PRIu64 ", \"throttle_closes\": %" PRIu64
		", \"serve_blocked\": %" PRIu64,
		w->throttle_pauses, w->throttle_closes, w->serve_blocked);
	fprintf(out, ", \"virtual_s\": %.6f, \"events\": %" PRIu64, (double)w->end_us / 1e6,
		w->events);
	fprintf(out, ", \"invariants\": {");
	for (int i = 0; i < SIM_INV_COUNT; i++)
		fprintf(out, "%s\"%s\": %" PRIu64, i ? ", " : "",
			sim_invariant_name((enum sim_invariant)i), w->failures[i]);
	fprintf(out, "}, \"failures\": {");
	first = 1;
	for (int i = 0; i < SIM_INV_COUNT; i++) {
		if (w->failures[i] == 0)
			continue;
		fprintf(out, "%s\"%s\": \"", first ? "" : ", ", sim_invariant_name((enum sim_invariant)i));
		for (const char *p = w->first_failure[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				fputc('\\', out);
			if ((unsigned char)*p < 0x20)
				fprintf(out, "\\u%04x", (unsigned char)*p);
			else
				fputc(*p, out);
		}
		fputc('"', out);
		first = 0;
	}
	fprintf(out, "}, \"ok\": %s", sim_world_total_failures(w) ? "false" : "true");
	fprintf(out, ", \"wall_s\": %.3f, \"events_per_s\": %.0f}\n", wall_s,
		wall_s > 0 ? (double)w->events / wall_s : 0.0);
}

/* ---- plots ---- */

/* Runs gnuplot on a script; 0 or -1 (message on stderr). */
static int run_gnuplot(const char *script_path)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", script_path, (char *)NULL);
		fprintf(stderr, "rumor-sim: cannot run gnuplot: %s (apt-get install gnuplot-nox)\n",
			strerror(errno));
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "rumor-sim: gnuplot failed\n");
		return -1;
	}
	return 0;
}

static void gp_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

struct plot_files {
	char dir[256], script[300], data1[300], data2[300];
};

static int plot_files_make(struct plot_files *p)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(p->dir, sizeof(p->dir), "%s/rumor-sim-plot.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(p->dir) == NULL)
		return -1;
	snprintf(p->script, sizeof(p->script), "%s/plot.gp", p->dir);
	snprintf(p->data1, sizeof(p->data1), "%s/a.dat", p->dir);
	snprintf(p->data2, sizeof(p->data2), "%s/b.dat", p->dir);
	return 0;
}

static void plot_files_remove(struct plot_files *p)
{
	unlink(p->script);
	unlink(p->data1);
	unlink(p->data2);
	rmdir(p->dir);
}

/* A CDF of sorted values, at most 2000 points. */
static void write_cdf(FILE *f, const uint64_t *v, size_t n)
{
	size_t step = n > 2000 ? n / 2000 : 1;
	for (size_t i = 0; i < n; i += step)
		fprintf(f, "%.3f %.6f\n", ms(v[i]), (double)(i + 1) / (double)n);
	if (n > 0)
		fprintf(f, "%.3f 1.0\n", ms(v[n - 1]));
}

static int plot_run(const char *png, const struct sim_world *w, const struct summary *s)
{
	struct plot_files p;
	if (plot_files_make(&p) != 0)
		return -1;
	FILE *a = fopen(p.data1, "w"), *b = fopen(p.data2, "w"), *g = fopen(p.script, "w");
	if (a == NULL || b == NULL || g == NULL) {
		if (a)
			fclose(a);
		if (b)
			fclose(b);
		if (g)
			fclose(g);
		plot_files_remove(&p);
		return -1;
	}
	write_cdf(a, s->delivery_us, s->n_delivery);
	write_cdf(b, s->to_all, s->n_to_all);
	fprintf(g, "set terminal pngcairo size 900,560\nset output ");
	gp_quote(g, png);
	fprintf(g,
		"\nset title \"rumor-sim: %u nodes, %u items, seed %" PRIu64
		"\"\nset xlabel \"virtual ms since submission\"\n"
		"set ylabel \"fraction\"\nset yrange [0:1.02]\nset grid\nset key bottom right\n"
		"plot ",
		w->n, w->items_injected, w->cfg->seed);
	gp_quote(g, p.data1);
	fprintf(g, " using 1:2 with lines lw 2 title \"deliveries (node, item)\", ");
	gp_quote(g, p.data2);
	fprintf(g, " using 1:2 with lines lw 2 title \"items at every live node\"\n");
	fclose(a);
	fclose(b);
	fclose(g);
	int rc = run_gnuplot(p.script);
	plot_files_remove(&p);
	return rc;
}

/* ---- runs ---- */

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_failure_hint(const struct sim_world *w)
{
	for (int i = 0; i < SIM_INV_COUNT; i++)
		if (w->failures[i])
			fprintf(stderr, "rumor-sim: invariant %s broke %" PRIu64 " times (seed %" PRIu64
					"): %s\n",
				sim_invariant_name((enum sim_invariant)i), w->failures[i], w->cfg->seed,
				w->first_failure[i]);
	fprintf(stderr, "rumor-sim: replay: %s\n", prog_args);
}

static int run_one(struct options *o, const struct sim_topology *t)
{
	o->cfg.topology = t;
	if (o->cfg.inject >= (int64_t)t->n)
		return bad("--inject=%" PRId64 " is not a node (%u nodes)", o->cfg.inject, t->n);
	for (size_t k = 0; k < o->n_crash_at; k++)
		if (o->crash_at[k].node >= t->n)
			return bad("--crash-at: node %u is not a node (%u nodes)", o->crash_at[k].node, t->n);
	char why[256] = "";
	struct sim_world *w;
	double t0 = wall_now();
	int rc = sim_world_new(&w, &o->cfg, why, sizeof(why));
	if (rc != 0) {
		fprintf(stderr, "rumor-sim: %s\n", why[0] ? why : strerror(-rc));
		return EXIT_RUN;
	}
	if (sim_world_run(w) != 0) {
		fprintf(stderr, "rumor-sim: out of memory\n");
		sim_world_del(w);
		return EXIT_RUN;
	}
	double wall = wall_now() - t0;
	struct summary s;
	if (summarise(w, &s) != 0) {
		fprintf(stderr, "rumor-sim: out of memory\n");
		summary_free(&s);
		sim_world_del(w);
		return EXIT_RUN;
	}
	print_report(stdout, w, &s, wall);
	fflush(stdout);
	int status = 0;
	if (sim_world_total_failures(w)) {
		print_failure_hint(w);
		status = EXIT_INVARIANT;
	}
	if (o->plot != NULL && plot_run(o->plot, w, &s) != 0 && status == 0)
		status = EXIT_RUN;
	summary_free(&s);
	sim_world_del(w);
	return status;
}

struct sweep_point {
	uint32_t n;
	uint64_t p50, p90, p99, max;
	double hops_mean;
	uint32_t hops_max;
	double delivery_ratio;
	uint64_t events;
	double wall_s;
	uint64_t failures;
};

static int plot_sweep(const char *png, const struct sweep_point *pts, size_t n, const struct options *o)
{
	struct plot_files p;
	if (plot_files_make(&p) != 0)
		return -1;
	FILE *a = fopen(p.data1, "w"), *g = fopen(p.script, "w");
	if (a == NULL || g == NULL) {
		if (a)
			fclose(a);
		if (g)
			fclose(g);
		plot_files_remove(&p);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		fprintf(a, "%u %.3f %.3f %.4f\n", pts[i].n, ms(pts[i].p50), ms(pts[i].p99),
			pts[i].hops_mean);
	fprintf(g, "set terminal pngcairo size 900,560\nset output ");
	gp_quote(g, png);
	fprintf(g,
		"\nset title \"rumor-sim sweep: degree %" PRIu64 ", %u items, seed %" PRIu64
		"\"\nset logscale x\nset xlabel \"nodes (log scale)\"\n"
		"set ylabel \"time to all nodes, virtual ms\"\nset y2label \"mean hops\"\n"
		"set ytics nomirror\nset y2tics\nset grid\nset key top left\nplot ",
		o->degree, o->cfg.items, o->cfg.seed);
	gp_quote(g, p.data1);
	fprintf(g, " using 1:2 with linespoints lw 2 title \"p50 time to all\", ");
	gp_quote(g, p.data1);
	fprintf(g, " using 1:3 with linespoints lw 2 title \"p99 time to all\", ");
	gp_quote(g, p.data1);
	fprintf(g, " using 1:4 axes x1y2 with linespoints lw 2 dt 2 title \"mean hops\"\n");
	fclose(a);
	fclose(g);
	int rc = run_gnuplot(p.script);
	plot_files_remove(&p);
	return rc;
}

static int run_sweep(struct options *o)
{
	struct sweep_point pts[SWEEP_MAX];
	double total_wall = 0;
	uint64_t total_events = 0;
	int status = 0;
	for (size_t k = 0; k < o->n_sweep; k++) {
		struct sim_topology t;
		char why[256];
		uint32_t n = (uint32_t)o->sweep[k];
		if (o->degree >= n)
			return bad("--sweep: degree %" PRIu64 " needs more than %u nodes", o->degree, n);
		if (o->cfg.inject >= (int64_t)n)
			return bad("--inject=%" PRId64 " is not a node of the %u-node graph", o->cfg.inject, n);
		for (size_t c = 0; c < o->n_crash_at; c++)
			if (o->crash_at[c].node >= n)
				return bad("--crash-at: node %u is not a node (%u nodes)", o->crash_at[c].node, n);
		if (sim_topology_random(&t, n, (uint32_t)o->degree, o->cfg.seed, why, sizeof(why)) != 0)
			return bad("%s", why);
		o->cfg.topology = &t;
		struct sim_world *w;
		double t0 = wall_now();
		if (sim_world_new(&w, &o->cfg, why, sizeof(why)) != 0 || sim_world_run(w) != 0) {
			fprintf(stderr, "rumor-sim: cannot run %u nodes\n", n);
			sim_topology_free(&t);
			return EXIT_RUN;
		}
		double wall = wall_now() - t0;
		struct summary s;
		if (summarise(w, &s) != 0) {
			summary_free(&s);
			sim_world_del(w);
			sim_topology_free(&t);
			return EXIT_RUN;
		}
		struct sweep_point *p = &pts[k];
		p->n = n;
		p->p50 = percentile(s.to_all, s.n_to_all, 50);
		p->p90 = percentile(s.to_all, s.n_to_all, 90);
		p->p99 = percentile(s.to_all, s.n_to_all, 99);
		p->max = s.n_to_all ? s.to_all[s.n_to_all - 1] : 0;
		p->hops_mean = s.hops_mean;
		p->hops_max = s.hops_max;
		p->delivery_ratio = s.live && w->items_injected
					    ? (double)(s.stored_pairs) / ((double)w->n * w->items_injected)
					    : 1.0;
		p->events = w->events;
		p->wall_s = wall;
		p->failures = sim_world_total_failures(w);
		total_wall += wall;
		total_events += w->events;
		if (p->failures) {
			print_failure_hint(w);
			status = EXIT_INVARIANT;
		}
		fprintf(stderr, "sweep: %u nodes: time to all p50 %.1f ms p99 %.1f ms, mean hops %.2f, %.1f s wall\n",
			n, ms(p->p50), ms(p->p99), p->hops_mean, wall);
		summary_free(&s);
		sim_world_del(w);
		sim_topology_free(&t);
	}
	printf("{\"seed\": %" PRIu64 ", \"degree\": %" PRIu64 ", \"items\": %u, \"sweep\": [",
	       o->cfg.seed, o->degree, o->cfg.items);
	for (size_t k = 0; k < o->n_sweep; k++) {
		const struct sweep_point *p = &pts[k];
		double ln = log((double)p->n);
		printf("%s{\"nodes\": %u, \"time_to_all_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": "
		       "%.3f, \"max\": %.3f}, \"hops_mean\": %.4f, \"hops_max\": %u, "
		       "\"hops_mean_per_ln_n\": %.4f, \"p50_ms_per_ln_n\": %.4f, \"delivery_ratio\": %.6f, "
		       "\"events\": %" PRIu64 ", \"invariant_failures\": %" PRIu64 "}",
		       k ? ", " : "", p->n, ms(p->p50), ms(p->p90), ms(p->p99), ms(p->max), p->hops_mean,
		       p->hops_max, p->hops_mean / ln, ms(p->p50) / ln, p->delivery_ratio, p->events,
		       p->failures);
	}
	printf("], \"ok\": %s, \"wall_s\": %.3f, \"events_per_s\": %.0f}\n", status ? "false" : "true",
	       total_wall, total_wall > 0 ? (double)total_events / total_wall : 0.0);
	fflush(stdout);
	if (o->plot != NULL && plot_sweep(o->plot, pts, o->n_sweep, o) != 0 && status == 0)
		status = EXIT_RUN;
	return status;
}

static void record_args(int argc, char **argv, int have_seed, uint64_t seed)
{
	size_t len = 0;
	for (int i = 0; i < argc && len + 4 < sizeof(prog_args); i++) {
		int plain = argv[i][0] != '\0';
		for (const char *p = argv[i]; *p; p++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,:/+@%",
				    *p))
				plain = 0;
		int k = snprintf(prog_args + len, sizeof(prog_args) - len, plain ? "%s%s" : "%s'%s'",
				 i ? " " : "", argv[i]);
		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (!have_seed && len < sizeof(prog_args))
		snprintf(prog_args + len, sizeof(prog_args) - len, " --seed=%" PRIu64, seed);
}

int main(int argc, char **argv)
{
	static struct options o;
	int rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc;
	int have_seed = 0;
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "--seed", 6) == 0)
			have_seed = 1;
	record_args(argc, argv, have_seed, o.cfg.seed);
	if (rumor_crypto_init() != 0) {
		fprintf(stderr, "rumor-sim: cannot initialise libsodium\n");
		return EXIT_RUN;
	}
	if (o.n_sweep)
		return run_sweep(&o);
	struct sim_topology t;
	char why[300];
	if (o.topology_file != NULL)
		rc = sim_topology_load(&t, o.topology_file, why, sizeof(why));
	else
		rc = sim_topology_random(&t, (uint32_t)o.nodes, (uint32_t)o.degree, o.cfg.seed, why,
					 sizeof(why));
	if (rc == -EINVAL)
		return bad("%s", why);
	if (rc != 0) {
		fprintf(stderr, "rumor-sim: out of memory\n");
		return EXIT_RUN;
	}
	rc = run_one(&o, &t);
	sim_topology_free(&t);
	return rc;
}
