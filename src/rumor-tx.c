/*
 * src/rumor-tx.c: offline item tools.  Makes keys, signs transactions and
 * blocks, decodes and validates items, and makes rpcauth lines.  Talks to no
 * node: everything happens in this process, with the formats of
 * doc/protocol.md (crypto/item.h).
 *
 * Exit status: 0 success, 1 error (message "error: ..." on stderr), 2 usage
 * error.  Results go to stdout, one per line (JSON for keygen without
 * --out and for decode).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "crypto/hash.h"
#include "crypto/hex.h"
#include "crypto/item.h"
#include "crypto/sign.h"

#define EXIT_USAGE 2

/* Longest hex text accepted from stdin or the command line: a full block. */
#define HEX_TEXT_MAX (2 * (size_t)RUMOR_ITEM_SIZE_MAX)

static const char *program = "rumor-tx";

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s COMMAND [OPTIONS] [ARGS]\n"
		"Offline tools for rumor items (see rumor-tx(1) and doc/protocol.md).\n"
		"\n"
		"Commands:\n"
		"  keygen [--out=FILE]            make a new Ed25519 key\n"
		"  pubkey --key=FILE              print the public key of a key file\n"
		"  createtx --key=FILE --network=NAME --payload=HEX [--nonce=N] [--timestamp=S]\n"
		"                                 print a signed transaction as hex\n"
		"  createblock --key=FILE --network=NAME --height=N [--prev=ID] [--timestamp=S]\n"
		"              [TXHEX...]         print a signed block as hex\n"
		"  decode [--network=NAME] HEX    print an item as JSON (and validate it)\n"
		"  rpcauth USER [PASSWORD]        print an rpcauth= line for rumord\n"
		"\n"
		"Run '%s COMMAND --help' for a command's options.\n"
		"Exit status: 0 ok, 1 error, 2 usage error.\n",
		program, program);
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

__attribute__((format(printf, 2, 3))) static int usage_error(const char *command,
							      const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", program, command);
	return EXIT_USAGE;
}

/* getopt_long() returned '?': an unknown option or a missing value. */
static int bad_option(const char *command, char **argv)
{
	return usage_error(command, "unknown option or missing value in '%s'", argv[optind - 1]);
}

/* Strict decimal u64: digits only, no sign, no overflow.  0 or -1. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* Reads all of stdin (at most max bytes) into a malloc'd NUL-terminated
 * string with surrounding whitespace removed.  NULL on error (reported). */
static char *read_stdin_text(size_t max)
{
	size_t cap = 4096, len = 0, start = 0;
	char *buf = malloc(cap);

	if (buf == NULL) {
		fail("out of memory");
		return NULL;
	}
	for (;;) {
		size_t n;

		if (len + 1 >= cap) {
			char *bigger;

			if (cap > max + 64) {
				free(buf);
				fail("input on stdin is too long (more than %zu characters)", max);
				return NULL;
			}
			bigger = realloc(buf, cap * 2);
			if (bigger == NULL) {
				free(buf);
				fail("out of memory");
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
		n = fread(buf + len, 1, cap - len - 1, stdin);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(stdin)) {
		free(buf);
		fail("cannot read stdin: %s", strerror(errno));
		return NULL;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
			   buf[len - 1] == '\t'))
		len--;
	while (start < len && (buf[start] == ' ' || buf[start] == '\t' || buf[start] == '\n' ||
			       buf[start] == '\r'))
		start++;
	memmove(buf, buf + start, len - start);
	buf[len - start] = '\0';
	return buf;
}

/* Decodes hex text ("-" reads it from stdin) of at most max_bytes bytes into
 * a malloc'd buffer.  NULL on error (reported; what names the input). */
static uint8_t *decode_hex_arg(const char *text, size_t max_bytes, const char *what, size_t *len)
{
	char *from_stdin = NULL;
	uint8_t *bytes;
	size_t hex_len;
	long n;

	if (strcmp(text, "-") == 0) {
		from_stdin = read_stdin_text(2 * max_bytes);
		if (from_stdin == NULL)
			return NULL;
		text = from_stdin;
	}
	hex_len = strlen(text);
	if (hex_len > 2 * max_bytes) {
		free(from_stdin);
		fail("%s is too long (more than %zu bytes)", what, max_bytes);
		return NULL;
	}
	bytes = malloc(hex_len / 2 + 1);
	if (bytes == NULL) {
		free(from_stdin);
		fail("out of memory");
		return NULL;
	}
	n = rumor_hex_decode(text, hex_len, bytes);
	free(from_stdin);
	if (n < 0) {
		free(bytes);
		fail("%s is not valid hex (an even number of [0-9a-fA-F] characters)", what);
		return NULL;
	}
	*len = (size_t)n;
	return bytes;
}

static void print_hex_line(const uint8_t *bytes, size_t len)
{
	char *hex = malloc(2 * len + 1);

	if (hex == NULL) {
		fail("out of memory");
		exit(EXIT_FAILURE);
	}
	rumor_hex_encode(bytes, len, hex);
	puts(hex);
	free(hex);
}

static json_t *json_hex(const uint8_t *bytes, size_t len)
{
	char *hex = malloc(2 * len + 1);
	json_t *s;

	if (hex == NULL)
		return NULL;
	rumor_hex_encode(bytes, len, hex);
	s = json_string(hex);
	free(hex);
	return s;
}

/* A u64 as a JSON integer, or as a decimal string above 2^63 - 1 (which
 * JSON integers cannot hold in jansson). */
static json_t *json_u64(uint64_t v)
{
	char text[24];

	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(text, sizeof(text), "%" PRIu64, v);
	return json_string(text);
}

static int print_json(json_t *obj)
{
	char *text;

	if (obj == NULL)
		return fail("out of memory");
	text = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (text == NULL)
		return fail("out of memory");
	puts(text);
	free(text);
	return EXIT_SUCCESS;
}

static int network_from_name(struct rumor_network *net, const char *name)
{
	if (rumor_network_init(net, name) != 0)
		return fail("invalid network name '%s' (1 to %d characters of [A-Za-z0-9._-])", name,
			    RUMOR_NETWORK_NAME_MAX);
	return EXIT_SUCCESS;
}

/* Loads a key file into pubkey and secret.  Exit status. */
static int load_key(const char *path, uint8_t pubkey[32], uint8_t secret[RUMOR_SECRET_SIZE])
{
	uint8_t seed[RUMOR_SEED_SIZE];
	int rc = rumor_keyfile_read(path, seed);

	if (rc == -EINVAL)
		return fail("%s is not a key file (expected 64 lowercase hex characters and a newline)",
			    path);
	if (rc < 0)
		return fail("cannot read key file %s: %s", path, strerror(-rc));
	rumor_sign_keypair_from_seed(seed, pubkey, secret);
	sodium_memzero(seed, sizeof(seed));
	return EXIT_SUCCESS;
}

/* Warns when a freshly made item would not pass validation right now. */
static void warn_if_invalid(const uint8_t *buf, size_t len, const struct rumor_network *net)
{
	struct rumor_item item;
	const char *reason = rumor_item_validate(&item, buf, len, net, (uint64_t)time(NULL));

	if (reason != NULL)
		fprintf(stderr, "warning: nodes will reject this %s now: %s\n",
			rumor_item_kind_name(item.kind), reason);
}

/* ---- keygen ---- */

static int cmd_keygen(int argc, char **argv)
{
	static const struct option options[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	uint8_t seed[RUMOR_SEED_SIZE], pubkey[32], secret[RUMOR_SECRET_SIZE];
	char seed_hex[2 * RUMOR_SEED_SIZE + 1], pubkey_hex[65];
	int c, rc = EXIT_SUCCESS;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			printf("Usage: %s keygen [--out=FILE]\n"
			       "Makes a new Ed25519 key.  With --out, writes the secret key file FILE\n"
			       "(mode 0600; an existing file is never overwritten) and prints the\n"
			       "public key as hex.  Without --out, writes nothing and prints\n"
			       "{\"secret\": SEEDHEX, \"pubkey\": HEX}; the secret line of a key file\n"
			       "is SEEDHEX and a newline.\n",
			       program);
			return EXIT_SUCCESS;
		default:
			return bad_option("keygen", argv);
		}
	}
	if (optind != argc)
		return usage_error("keygen", "unexpected argument '%s'", argv[optind]);

	rumor_random(seed, sizeof(seed));
	rumor_sign_keypair_from_seed(seed, pubkey, secret);
	rumor_hex_encode(pubkey, sizeof(pubkey), pubkey_hex);
	if (out != NULL) {
		int err = rumor_keyfile_write(out, seed, 1);

		if (err == -EEXIST)
			rc = fail("%s already exists; refusing to overwrite a key", out);
		else if (err < 0)
			rc = fail("cannot write key file %s: %s", out, strerror(-err));
		else
			puts(pubkey_hex);
	} else {
		json_t *obj = json_object();

		rumor_hex_encode(seed, sizeof(seed), seed_hex);
		if (obj != NULL) {
			json_object_set_new(obj, "secret", json_string(seed_hex));
			json_object_set_new(obj, "pubkey", json_string(pubkey_hex));
		}
		sodium_memzero(seed_hex, sizeof(seed_hex));
		rc = print_json(obj);
	}
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(secret, sizeof(secret));
	return rc;
}

/* ---- pubkey ---- */

static int cmd_pubkey(int argc, char **argv)
{
	static const struct option options[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL;
	uint8_t pubkey[32], secret[RUMOR_SECRET_SIZE];
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'h':
			printf("Usage: %s pubkey --key=FILE\n"
			       "Prints the public key of the secret key file FILE as hex.\n",
			       program);
			return EXIT_SUCCESS;
		default:
			return bad_option("pubkey", argv);
		}
	}
	if (optind != argc)
		return usage_error("pubkey", "unexpected argument '%s'", argv[optind]);
	if (key == NULL)
		return usage_error("pubkey", "--key=FILE is required");
	rc = load_key(key, pubkey, secret);
	sodium_memzero(secret, sizeof(secret));
	if (rc == EXIT_SUCCESS)
		print_hex_line(pubkey, sizeof(pubkey));
	return rc;
}

/* ---- createtx ---- */

static int cmd_createtx(int argc, char **argv)
{
	static const struct option options[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "network", required_argument, NULL, 'n' },
		{ "payload", required_argument, NULL, 'p' },
		{ "nonce", required_argument, NULL, 'N' },
		{ "timestamp", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *network_name = NULL, *payload_hex = NULL;
	const char *nonce_text = NULL, *timestamp_text = NULL;
	uint8_t pubkey[32], secret[RUMOR_SECRET_SIZE];
	struct rumor_network net;
	uint64_t nonce, timestamp;
	uint8_t *payload, *tx;
	size_t payload_len, tx_len;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'n':
			network_name = optarg;
			break;
		case 'p':
			payload_hex = optarg;
			break;
		case 'N':
			nonce_text = optarg;
			break;
		case 't':
			timestamp_text = optarg;
			break;
		case 'h':
			printf("Usage: %s createtx --key=FILE --network=NAME --payload=HEX\n"
			       "                   [--nonce=N] [--timestamp=SECONDS]\n"
			       "Prints a transaction signed by the key in FILE, as hex.\n"
			       "  --payload=HEX     the payload (at most 65536 bytes; '' for none,\n"
			       "                    '-' to read the hex from stdin)\n"
			       "  --nonce=N         0 to 2^64-1 (default: random below 2^63)\n"
			       "  --timestamp=S     seconds since the Unix epoch (default: now)\n",
			       program);
			return EXIT_SUCCESS;
		default:
			return bad_option("createtx", argv);
		}
	}
	if (optind != argc)
		return usage_error("createtx", "unexpected argument '%s'", argv[optind]);
	if (key == NULL || network_name == NULL || payload_hex == NULL)
		return usage_error("createtx", "--key, --network and --payload are required");
	if (nonce_text != NULL) {
		if (parse_u64(nonce_text, &nonce) != 0)
			return usage_error("createtx", "--nonce must be a decimal number from 0 to 2^64-1");
	} else {
		rumor_random(&nonce, sizeof(nonce));
		nonce >>= 1; /* stays an exact JSON integer in decode output */
	}
	if (timestamp_text != NULL) {
		if (parse_u64(timestamp_text, &timestamp) != 0)
			return usage_error("createtx", "--timestamp must be a decimal number of seconds");
	} else {
		timestamp = (uint64_t)time(NULL);
	}
	rc = network_from_name(&net, network_name);
	if (rc != EXIT_SUCCESS)
		return rc;
	payload = decode_hex_arg(payload_hex, RUMOR_TX_PAYLOAD_MAX, "the payload", &payload_len);
	if (payload == NULL)
		return EXIT_FAILURE;
	rc = load_key(key, pubkey, secret);
	if (rc == EXIT_SUCCESS) {
		tx = rumor_tx_create(&net, secret, nonce, timestamp, payload, payload_len, &tx_len);
		if (tx == NULL) {
			rc = fail("cannot create the transaction: %s", strerror(errno));
		} else {
			warn_if_invalid(tx, tx_len, &net);
			print_hex_line(tx, tx_len);
			free(tx);
		}
	}
	sodium_memzero(secret, sizeof(secret));
	free(payload);
	return rc;
}

/* ---- createblock ---- */

static int cmd_createblock(int argc, char **argv)
{
	static const struct option options[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "network", required_argument, NULL, 'n' },
		{ "height", required_argument, NULL, 'H' },
		{ "prev", required_argument, NULL, 'P' },
		{ "timestamp", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *network_name = NULL, *height_text = NULL, *prev_hex = NULL;
	const char *timestamp_text = NULL;
	uint8_t pubkey[32], secret[RUMOR_SECRET_SIZE], prev[RUMOR_ID_SIZE];
	struct rumor_network net;
	uint64_t height, timestamp;
	uint8_t *ids = NULL, *block;
	size_t n_tx, block_len;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'n':
			network_name = optarg;
			break;
		case 'H':
			height_text = optarg;
			break;
		case 'P':
			prev_hex = optarg;
			break;
		case 't':
			timestamp_text = optarg;
			break;
		case 'h':
			printf("Usage: %s createblock --key=FILE --network=NAME --height=N [--prev=ID]\n"
			       "                      [--timestamp=SECONDS] [TXHEX...]\n"
			       "Prints a block signed by the key in FILE, as hex.  Each TXHEX is a\n"
			       "transaction ('-' reads one from stdin); the block lists their ids in\n"
			       "the order given and commits to them with a Merkle root.\n"
			       "  --height=N        block height; 0 for a genesis block\n"
			       "  --prev=ID         id of the previous block (64 hex characters);\n"
			       "                    required above height 0, all zeros by default\n"
			       "  --timestamp=S     seconds since the Unix epoch (default: now)\n",
			       program);
			return EXIT_SUCCESS;
		default:
			return bad_option("createblock", argv);
		}
	}
	if (key == NULL || network_name == NULL || height_text == NULL)
		return usage_error("createblock", "--key, --network and --height are required");
	if (parse_u64(height_text, &height) != 0)
		return usage_error("createblock", "--height must be a decimal number");
	memset(prev, 0, sizeof(prev));
	if (prev_hex != NULL) {
		if (strlen(prev_hex) != 2 * RUMOR_ID_SIZE ||
		    rumor_hex_decode(prev_hex, 2 * RUMOR_ID_SIZE, prev) != RUMOR_ID_SIZE)
			return usage_error("createblock", "--prev must be 64 hex characters");
	} else if (height > 0) {
		return usage_error("createblock", "--prev=ID is required above height 0");
	}
	if (timestamp_text != NULL) {
		if (parse_u64(timestamp_text, &timestamp) != 0)
			return usage_error("createblock", "--timestamp must be a decimal number of seconds");
	} else {
		timestamp = (uint64_t)time(NULL);
	}
	rc = network_from_name(&net, network_name);
	if (rc != EXIT_SUCCESS)
		return rc;

	n_tx = (size_t)(argc - optind);
	if (n_tx > RUMOR_BLOCK_TX_MAX)
		return fail("a block holds at most %u transactions", (unsigned)RUMOR_BLOCK_TX_MAX);
	if (n_tx > 0) {
		ids = malloc(n_tx * RUMOR_ID_SIZE);
		if (ids == NULL)
			return fail("out of memory");
	}
	for (size_t i = 0; i < n_tx; i++) {
		struct rumor_item item;
		const char *reason;
		size_t len;
		char what[64];
		uint8_t *tx;

		snprintf(what, sizeof(what), "transaction %zu", i + 1);
		tx = decode_hex_arg(argv[optind + (int)i], RUMOR_TX_SIZE_MAX, what, &len);
		if (tx == NULL) {
			free(ids);
			return EXIT_FAILURE;
		}
		reason = rumor_item_decode(&item, tx, len);
		if (reason == NULL && item.kind != RUMOR_ITEM_TX)
			reason = "it is a block, not a transaction";
		if (reason == NULL && memcmp(item.magic, net.magic, RUMOR_MAGIC_SIZE) != 0)
			fprintf(stderr, "warning: transaction %zu belongs to another network\n", i + 1);
		if (reason == NULL)
			memcpy(ids + i * RUMOR_ID_SIZE, item.id, RUMOR_ID_SIZE);
		free(tx);
		if (reason != NULL) {
			free(ids);
			return fail("transaction %zu is invalid: %s", i + 1, reason);
		}
	}
	rc = load_key(key, pubkey, secret);
	if (rc == EXIT_SUCCESS) {
		block = rumor_block_create(&net, secret, height, prev, timestamp, ids, (uint32_t)n_tx,
					   &block_len);
		if (block == NULL) {
			rc = fail("cannot create the block: %s", strerror(errno));
		} else {
			warn_if_invalid(block, block_len, &net);
			print_hex_line(block, block_len);
			free(block);
		}
	}
	sodium_memzero(secret, sizeof(secret));
	free(ids);
	return rc;
}

/* ---- decode ---- */

static json_t *item_to_json(const struct rumor_item *item)
{
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	json_object_set_new(obj, "id", json_hex(item->id, RUMOR_ID_SIZE));
	json_object_set_new(obj, "kind", json_string(rumor_item_kind_name(item->kind)));
	json_object_set_new(obj, "size", json_integer((json_int_t)item->size));
	json_object_set_new(obj, "version", json_integer(item->version));
	json_object_set_new(obj, "network_magic", json_hex(item->magic, RUMOR_MAGIC_SIZE));
	switch (item->kind) {
	case RUMOR_ITEM_TX: {
		const struct rumor_tx *tx = &item->u.tx;

		json_object_set_new(obj, "sender", json_hex(tx->sender, RUMOR_PUBKEY_SIZE));
		json_object_set_new(obj, "nonce", json_u64(tx->nonce));
		json_object_set_new(obj, "timestamp", json_u64(tx->timestamp));
		json_object_set_new(obj, "payload", json_hex(tx->payload, tx->payload_len));
		break;
	}
	case RUMOR_ITEM_BLOCK: {
		const struct rumor_block *block = &item->u.block;
		json_t *ids = json_array();

		json_object_set_new(obj, "height", json_u64(block->height));
		json_object_set_new(obj, "prev", json_hex(block->prev, RUMOR_ID_SIZE));
		json_object_set_new(obj, "timestamp", json_u64(block->timestamp));
		json_object_set_new(obj, "producer", json_hex(block->producer, RUMOR_PUBKEY_SIZE));
		json_object_set_new(obj, "merkle_root", json_hex(block->merkle_root, RUMOR_ID_SIZE));
		json_object_set_new(obj, "tx_count", json_integer(block->tx_count));
		for (uint32_t i = 0; ids != NULL && i < block->tx_count; i++)
			json_array_append_new(ids, json_hex(block->tx_ids + (size_t)i * RUMOR_ID_SIZE,
							    RUMOR_ID_SIZE));
		json_object_set_new(obj, "tx", ids);
		break;
	}
	}
	json_object_set_new(obj, "signature", json_hex(item->sig, RUMOR_SIG_SIZE));
	return obj;
}

static int cmd_decode(int argc, char **argv)
{
	static const struct option options[] = {
		{ "network", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *network_name = NULL;
	struct rumor_network net;
	struct rumor_item item;
	const char *reason;
	uint8_t *buf;
	size_t len;
	json_t *obj;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'n':
			network_name = optarg;
			break;
		case 'h':
			printf("Usage: %s decode [--network=NAME] HEX\n"
			       "Prints the item HEX ('-' reads it from stdin) as JSON.  With --network,\n"
			       "also validates it for that network against the current clock and adds\n"
			       "\"valid\": true, or \"valid\": false and the \"reason\".\n"
			       "Exits 1 when HEX is not a well-formed item.\n",
			       program);
			return EXIT_SUCCESS;
		default:
			return bad_option("decode", argv);
		}
	}
	if (argc - optind != 1)
		return usage_error("decode", "expected exactly one HEX argument");
	if (network_name != NULL) {
		rc = network_from_name(&net, network_name);
		if (rc != EXIT_SUCCESS)
			return rc;
	}
	buf = decode_hex_arg(argv[optind], RUMOR_ITEM_SIZE_MAX, "the item", &len);
	if (buf == NULL)
		return EXIT_FAILURE;
	reason = rumor_item_decode(&item, buf, len);
	if (reason != NULL) {
		free(buf);
		return fail("cannot decode the item: %s", reason);
	}
	obj = item_to_json(&item);
	if (obj != NULL && network_name != NULL) {
		reason = rumor_item_check(&item, &net, (uint64_t)time(NULL));
		if (reason == NULL)
			reason = rumor_item_verify(&item, &net);
		json_object_set_new(obj, "valid", json_boolean(reason == NULL));
		if (reason != NULL)
			json_object_set_new(obj, "reason", json_string(reason));
	}
	rc = print_json(obj);
	free(buf);
	return rc;
}

/* ---- rpcauth ---- */

static int cmd_rpcauth(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint8_t salt_bytes[16], password_bytes[16], mac[RUMOR_SHA256_SIZE];
	char salt[2 * sizeof(salt_bytes) + 1], generated[2 * sizeof(password_bytes) + 1];
	char mac_hex[2 * RUMOR_SHA256_SIZE + 1];
	const char *user, *password;
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf("Usage: %s rpcauth USER [PASSWORD]\n"
			       "Prints a line rpcauth=USER:SALT$HMAC for rumor.conf (or --rpcauth):\n"
			       "SALT is 32 random hex characters and HMAC is\n"
			       "hex(HMAC-SHA256(key = SALT as ASCII, message = PASSWORD)).  Without\n"
			       "PASSWORD, makes a random one and prints password=... on a second line.\n",
			       program);
			return EXIT_SUCCESS;
		default:
			return bad_option("rpcauth", argv);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return usage_error("rpcauth", "expected USER and optionally PASSWORD");
	user = argv[optind];
	if (*user == '\0' || strpbrk(user, ":$ \t\r\n") != NULL)
		return usage_error("rpcauth", "USER must be non-empty without ':', '$' or whitespace");
	rumor_random(salt_bytes, sizeof(salt_bytes));
	rumor_hex_encode(salt_bytes, sizeof(salt_bytes), salt);
	if (argc - optind == 2) {
		password = argv[optind + 1];
	} else {
		rumor_random(password_bytes, sizeof(password_bytes));
		rumor_hex_encode(password_bytes, sizeof(password_bytes), generated);
		password = generated;
	}
	rumor_hmac_sha256(salt, strlen(salt), password, strlen(password), mac);
	rumor_hex_encode(mac, sizeof(mac), mac_hex);
	printf("rpcauth=%s:%s$%s\n", user, salt, mac_hex);
	if (password == generated)
		printf("password=%s\n", generated);
	sodium_memzero(generated, sizeof(generated));
	sodium_memzero(password_bytes, sizeof(password_bytes));
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} commands[] = {
		{ "keygen", cmd_keygen },
		{ "pubkey", cmd_pubkey },
		{ "createtx", cmd_createtx },
		{ "createblock", cmd_createblock },
		{ "decode", cmd_decode },
		{ "rpcauth", cmd_rpcauth },
	};
	const char *command;
	int rc;

	if (argc < 2)
		return print_usage(stderr), EXIT_USAGE;
	command = argv[1];
	if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
	    strcmp(command, "help") == 0) {
		print_usage(stdout);
		return EXIT_SUCCESS;
	}
	if (strcmp(command, "--version") == 0) {
		printf("%s %s\n", program, PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	if (rumor_crypto_init() != 0)
		return fail("cannot initialise libsodium");
	opterr = 0; /* bad_option() reports in our own format */
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(command, commands[i].name) == 0) {
			/* The command sees itself as argv[0]. */
			rc = commands[i].run(argc - 1, argv + 1);
			if (fflush(stdout) != 0 || ferror(stdout))
				return fail("cannot write to stdout");
			return rc;
		}
	}
	fprintf(stderr, "error: unknown command '%s'\n", command);
	print_usage(stderr);
	return EXIT_USAGE;
}
