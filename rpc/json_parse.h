/*
 * rpc/json_parse.h: JSON text to jansson values, fast for plain documents.
 *
 * rumor_json_parse() gives exactly what
 *   json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, error)
 * gives: the same value, or NULL for the same inputs.  It gets there
 * faster for the documents JSON-RPC clients send.  jansson's own reader
 * costs about 14 us per 800-byte call (it reads through a callback per
 * character), most of the loop thread's time under a batch load.
 * yajl's lexer, building the same jansson values, costs about 2 us.
 *
 * So it first tries a "plain" parse with yajl, and takes its result only
 * when every piece of the document is one whose meaning cannot differ
 * between the two libraries:
 *   - strings and keys: printable ASCII (0x20-0x7e), no escapes;
 *   - numbers: integers of at most 18 digits;
 *   - keys: at most RUMOR_JSON_PLAIN_KEY_MAX bytes, unique per object;
 *   - nesting: at most RUMOR_JSON_PLAIN_DEPTH levels.
 * Anything else (escapes, UTF-8, reals, big integers, duplicate keys,
 * deep nesting, any syntax error) makes the plain parse decline, and the
 * document is parsed again by json_loadb, whose answer is final.
 * test/unit/test_json_parse.c and the json_parse fuzz target check both
 * halves: a plain result equals jansson's, and the plain path is taken for
 * JSON-RPC requests.
 */
#ifndef RUMOR_RPC_JSON_PARSE_H
#define RUMOR_RPC_JSON_PARSE_H

#include <jansson.h>
#include <stddef.h>

#define RUMOR_JSON_PLAIN_DEPTH 32
#define RUMOR_JSON_PLAIN_KEY_MAX 64

/* The value of the JSON text buf[0..len) (new reference), or NULL with
 * error filled in by jansson.  error may be NULL. */
json_t *rumor_json_parse(const char *buf, size_t len, json_error_t *error);

/*
 * Limits on what a text may hold, so the memory its parse takes is bounded
 * by what was read, not by what the text claims: values (each array,
 * object, string, number, literal counts one), nesting depth, key and
 * string bytes (decoded), and elements of a top-level array (a batch).
 * A text past a limit is refused as soon as the limit is crossed, without
 * building the rest.
 */
#define RUMOR_JSON_MAX_VALUES 100000
#define RUMOR_JSON_MAX_DEPTH 32
#define RUMOR_JSON_MAX_KEY_BYTES 256
#define RUMOR_JSON_MAX_STRING_BYTES (16u * 1024 * 1024)
struct rumor_json_limits {
	size_t max_values;
	size_t max_depth;
	size_t max_key_bytes;
	size_t max_string_bytes;
	size_t max_root_items; /* 0: no limit */
};
/* The defaults above, and no limit on a top-level array. */
void rumor_json_limits_default(struct rumor_json_limits *limits);

enum rumor_json_error_kind {
	RUMOR_JSON_OK,
	RUMOR_JSON_ESYNTAX,     /* not JSON (jansson's words, with where) */
	RUMOR_JSON_ELIMIT,      /* values, depth, key or string bytes */
	RUMOR_JSON_EROOT_ITEMS, /* top-level array longer than max_root_items */
};
struct rumor_json_error {
	enum rumor_json_error_kind kind;
	size_t offset;  /* byte of the text where it was found */
	char text[200]; /* what, with the limit and where; no prefix */
};

/* As rumor_json_parse (the same values for texts within the limits), but
 * refuses a text past a limit early.  limits NULL: the defaults.  Returns
 * a new reference, or NULL with error filled in. */
json_t *rumor_json_parse_limited(const char *buf, size_t len,
				 const struct rumor_json_limits *limits,
				 struct rumor_json_error *error);

/*
 * The limits checked while a text arrives, before the whole of it is
 * there: a streaming yajl pass with the same limits, so that a server can
 * refuse a body past a limit without reading the rest of it.
 *
 *   rumor_json_stream_check(stream, text, len, error): text[0..len) is the
 *   text received so far: the bytes given at the previous call, and maybe
 *   more after them (the buffer may have moved).  Returns RUMOR_JSON_OK
 *   while no limit is crossed, or RUMOR_JSON_ELIMIT / EROOT_ITEMS with
 *   error (may be NULL) filled in exactly as rumor_json_parse_limited()
 *   fills it for the whole text, whatever follows: the same limit, byte
 *   and words.  A refusal is final (later calls repeat it).  It never
 *   says RUMOR_JSON_ESYNTAX: where the text is not JSON it stops checking
 *   and returns OK from then on; the full parse words that error.
 *
 * It does not see the whole text: the bytes after the text's last
 * , : [ ] { } wait for more, and once 64 KiB went to the parser without a
 * value, key or end of a container (inside a long string holding such
 * bytes), nothing more goes until an unescaped '"' has come; so no token
 * is handed over in many pieces (yajl would re-read it from its start for
 * each).  So OK at the end means nothing: the caller parses the whole
 * text with rumor_json_parse_limited, which decides.  At a refusal, the
 * text past the refusal point is what came with the last call, plus at
 * most one run without , : [ ] { } before it (one token and the
 * whitespace around it).
 *
 * limits NULL: the defaults.  _new returns NULL when out of memory.
 */
struct rumor_json_stream;
struct rumor_json_stream *rumor_json_stream_new(const struct rumor_json_limits *limits);
void rumor_json_stream_del(struct rumor_json_stream *stream); /* NULL-safe */
enum rumor_json_error_kind rumor_json_stream_check(struct rumor_json_stream *stream,
						   const char *text, size_t len,
						   struct rumor_json_error *error);
/* Bytes of the text handed to the parser so far. */
size_t rumor_json_stream_parsed(const struct rumor_json_stream *stream);

/* The plain parse alone: the value, or NULL when it declines (the text is
 * not plain, or not JSON).  For tests and the fuzz target. */
json_t *rumor_json_parse_plain(const char *buf, size_t len);

#endif
