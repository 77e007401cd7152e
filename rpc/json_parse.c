/*
 * rpc/json_parse.c: see json_parse.h.
 *
 * The plain parse runs yajl over the whole text in one call, with its
 * callbacks building jansson values.  Each callback returns 0 (yajl then
 * stops with "client cancelled") as soon as the text is not plain; the
 * caller then falls back to json_loadb.
 *
 * Why each plain value means the same to both libraries:
 *  - A string yajl hands over without decoding points into the caller's
 *    buffer; one with escapes points into yajl's own buffer.  So "inside
 *    buf" means "no escapes", and printable ASCII bytes are the same
 *    characters in both libraries (no UTF-8, no control characters, no NUL).
 *  - An integer of at most 18 digits fits in json_int_t (64 bits) exactly;
 *    jansson reads the same digits with strtoll.  "-0" is the integer 0 in
 *    both.
 *  - true, false, null and the structure (arrays, objects, key order of
 *    insertion) have one meaning.  Duplicate keys are rejected by
 *    JSON_REJECT_DUPLICATES: the plain parse declines and lets jansson say so.
 *  - yajl runs with its defaults (no comments, one value, complete text)
 *    but for two things where it is laxer than RFC 8259 and jansson:
 *    its lexer also skips form feed and vertical tab as whitespace, and
 *    its trailing-garbage check lets an unterminated string after the
 *    value pass.  So a text holding \f or \v is not plain (those bytes
 *    are in no valid JSON text: inside a string they would be raw control
 *    characters), and we check ourselves that only whitespace follows the
 *    value.  Any text yajl rejects goes to jansson too.
 */
#include "rpc/json_parse.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

struct plain {
	uintptr_t start, end; /* the caller's text */
	json_t *root;
	json_t *stack[RUMOR_JSON_PLAIN_DEPTH]; /* open containers (borrowed) */
	size_t depth;       /* containers open (in the text, built or not) */
	char key[RUMOR_JSON_PLAIN_KEY_MAX + 1]; /* the pending object key */
	int have_key;
	int building;       /* still building values (the text is plain so far) */

	/* limits (NULL: the plain parse alone, which stops at the first
	 * piece that is not plain) */
	const struct rumor_json_limits *limits;
	yajl_handle handle;
	size_t values;
	size_t root_items;
	int root_is_array;
	const char *limit_what; /* set when a limit stopped the scan */
	size_t limit_value;
	size_t limit_at;

	/* streaming (rumor_json_stream): where the piece yajl is reading
	 * starts in the whole text, and how many events (value, key, end of a
	 * container) yajl gave */
	size_t base;
	size_t events;
};

/* Bytes that mean the same to both libraries: not decoded by yajl (so
 * inside the caller's text, no escapes), printable ASCII. */
static int plain_bytes(const struct plain *p, const unsigned char *s, size_t len)
{
	uintptr_t at = (uintptr_t)s;
	if (at < p->start || at > p->end || len > p->end - at)
		return 0;
	unsigned bad = 0;
	for (size_t i = 0; i < len; i++) /* no early exit: the compiler vectorises it */
		bad |= (unsigned)(s[i] < 0x20) | (unsigned)(s[i] > 0x7e);
	return !bad;
}

/* The text is not plain: stop building.  Returns what the callback
 * returns: 0 (stop) for the plain parse alone, 1 (keep checking limits)
 * under limits. */
static int decline(struct plain *p)
{
	if (p->building) {
		json_decref(p->root); /* NULL-safe; frees every built value */
		p->root = NULL;
		p->building = 0;
	}
	return p->limits != NULL;
}

static int over(struct plain *p, const char *what, size_t value)
{
	p->limit_what = what;
	p->limit_value = value;
	p->limit_at = p->base + yajl_get_bytes_consumed(p->handle);
	return 0; /* yajl stops: "client cancelled" */
}

/* Counts an event, for the stream's stall check (a counter: asking yajl
 * where it is costs a call per value). */
static void seen(struct plain *p)
{
	p->events++;
}

/* Counts one value (scalar or container start) against the limits. */
static int count_value(struct plain *p)
{
	if (!p->limits)
		return 1;
	seen(p);
	if (++p->values > p->limits->max_values)
		return over(p, "values", p->limits->max_values);
	if (p->depth == 1 && p->root_is_array && p->limits->max_root_items &&
	    ++p->root_items > p->limits->max_root_items)
		return over(p, "root items", p->limits->max_root_items);
	return 1;
}

/* Adds v (stolen) to the open container, or makes it the root. */
static int add(struct plain *p, json_t *v)
{
	if (!v)
		return decline(p);
	if (p->depth == 0) {
		if (p->root) { /* yajl allows one value; defensive */
			json_decref(v);
			return decline(p);
		}
		p->root = v;
		return 1;
	}
	json_t *parent = p->stack[p->depth - 1];
	if (json_is_array(parent))
		return json_array_append_new(parent, v) == 0 ? 1 : decline(p);
	if (!p->have_key || json_object_get(parent, p->key)) { /* duplicate key */
		json_decref(v);
		return decline(p);
	}
	p->have_key = 0;
	return json_object_set_new_nocheck(parent, p->key, v) == 0 ? 1 : decline(p);
}

static int on_null(void *ctx)
{
	struct plain *p = ctx;
	if (!count_value(p))
		return 0;
	return p->building ? add(p, json_null()) : 1;
}

static int on_boolean(void *ctx, int value)
{
	struct plain *p = ctx;
	if (!count_value(p))
		return 0;
	return p->building ? add(p, json_boolean(value)) : 1;
}

static int on_number(void *ctx, const char *s, size_t len)
{
	struct plain *p = ctx;
	if (!count_value(p))
		return 0;
	if (!p->building)
		return 1;
	size_t i = 0;
	int negative = 0;
	if (len > 0 && s[0] == '-') {
		negative = 1;
		i = 1;
	}
	if (len - i == 0 || len - i > 18)
		return decline(p); /* reals and big integers: jansson's strtoll/strtod */
	json_int_t value = 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return decline(p); /* '.', 'e', 'E': a real */
		value = value * 10 + (s[i] - '0');
	}
	return add(p, json_integer(negative ? -value : value));
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
	struct plain *p = ctx;
	if (!count_value(p))
		return 0;
	if (p->limits && len > p->limits->max_string_bytes)
		return over(p, "string bytes", p->limits->max_string_bytes);
	if (!p->building)
		return 1;
	if (!plain_bytes(p, s, len))
		return decline(p);
	return add(p, json_stringn_nocheck((const char *)s, len));
}

static int open_container(struct plain *p, int is_array)
{
	if (!count_value(p))
		return 0;
	if (p->limits && p->depth >= p->limits->max_depth)
		return over(p, "depth", p->limits->max_depth);
	if (p->depth == 0)
		p->root_is_array = is_array;
	if (p->building) {
		if (p->depth == RUMOR_JSON_PLAIN_DEPTH) {
			if (!decline(p))
				return 0;
		} else {
			json_t *container = is_array ? json_array() : json_object();
			if (!add(p, container))
				return 0;
			if (p->building)
				p->stack[p->depth] = container; /* owned by its parent, or the root */
		}
	}
	p->depth++;
	return 1;
}

static int on_start_map(void *ctx)
{
	return open_container(ctx, 0);
}

static int on_start_array(void *ctx)
{
	return open_container(ctx, 1);
}

static int on_map_key(void *ctx, const unsigned char *s, size_t len)
{
	struct plain *p = ctx;
	seen(p);
	if (p->limits && len > p->limits->max_key_bytes)
		return over(p, "key bytes", p->limits->max_key_bytes);
	if (!p->building)
		return 1;
	if (len > RUMOR_JSON_PLAIN_KEY_MAX || !plain_bytes(p, s, len))
		return decline(p);
	memcpy(p->key, s, len);
	p->key[len] = '\0';
	p->have_key = 1;
	return 1;
}

static int on_end_container(void *ctx)
{
	struct plain *p = ctx;
	seen(p);
	if (p->depth == 0) { /* yajl balances them; defensive */
		decline(p);
		return 0;
	}
	p->depth--;
	return 1;
}

static const yajl_callbacks plain_callbacks = {
	.yajl_null = on_null,
	.yajl_boolean = on_boolean,
	.yajl_number = on_number, /* raw text: integer and double callbacks unused */
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_map_key,
	.yajl_end_map = on_end_container,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_end_container,
};

enum scan_result {
	SCAN_PLAIN,  /* p->root is the value */
	SCAN_OTHER,  /* valid for yajl, not plain: jansson decides */
	SCAN_LIMIT,  /* a limit stopped it (limits only) */
	SCAN_SYNTAX, /* yajl refused the text; *syntax_at where */
};

/* One yajl pass over buf.  With limits it reads the whole text (checking
 * them) even after the text turned out not to be plain. */
static enum scan_result scan(struct plain *p, const char *buf, size_t len,
			     const struct rumor_json_limits *limits, size_t *syntax_at,
			     char *why, size_t why_cap)
{
	memset(p, 0, sizeof(*p));
	p->start = (uintptr_t)buf;
	p->end = (uintptr_t)buf + len;
	p->building = 1;
	p->limits = limits;
	*syntax_at = 0;
	if (why_cap)
		why[0] = '\0';

	/* yajl would read "\f1" or "[1,\v2]" as 1 and [1,2]; jansson rejects
	 * them.  memchr is cheap next to the parse. */
	if (len && (memchr(buf, '\f', len) || memchr(buf, '\v', len))) {
		if (!limits)
			return SCAN_OTHER;
		p->building = 0;
	}

	yajl_handle h = yajl_alloc(&plain_callbacks, NULL, p);
	if (!h)
		return SCAN_OTHER;
	p->handle = h;
	/* Our own check (plain_bytes) is stricter than yajl's UTF-8 check. */
	yajl_config(h, yajl_dont_validate_strings, 1);
	/*
	 * yajl's own trailing-garbage check lexes what follows the value, and
	 * its lexer reads an unterminated string as "more input to come", not
	 * an error: it took 0"a and {} "x as 0 and {}.  So yajl stops after
	 * the value, and we check that only JSON whitespace follows.
	 */
	yajl_config(h, yajl_allow_trailing_garbage, 1);
	size_t end = len; /* where the value ends */
	int complete = 0;
	yajl_status status = yajl_parse(h, (const unsigned char *)buf, len);
	if (status == yajl_status_ok && p->depth == 0 && (p->root || p->values)) {
		end = yajl_get_bytes_consumed(h);
		complete = 1;
	} else if (status == yajl_status_ok) {
		/* Not complete yet: a number running to the end of the text
		 * (yajl cannot know it ended), or a truncated text. */
		status = yajl_complete_parse(h);
		complete = status == yajl_status_ok && p->depth == 0;
	}
	enum scan_result result;
	if (p->limit_what) {
		result = SCAN_LIMIT;
	} else if (status != yajl_status_ok || !complete) {
		result = SCAN_SYNTAX;
		*syntax_at = yajl_get_bytes_consumed(h);
		if (why_cap) {
			unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)buf, len);
			if (msg) {
				snprintf(why, why_cap, "%s", (const char *)msg);
				why[strcspn(why, "\n")] = '\0';
				yajl_free_error(h, msg);
			}
		}
	} else {
		size_t i = end;
		while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
			i++;
		if (i < len) {
			result = SCAN_SYNTAX;
			*syntax_at = i;
			if (why_cap)
				snprintf(why, why_cap, "text after the JSON value");
		} else {
			result = p->building && p->root ? SCAN_PLAIN : SCAN_OTHER;
		}
	}
	yajl_free(h);
	if (result != SCAN_PLAIN) {
		json_decref(p->root); /* NULL-safe */
		p->root = NULL;
	}
	return result;
}

json_t *rumor_json_parse_plain(const char *buf, size_t len)
{
	struct plain p;
	size_t at;
	if (scan(&p, buf, len, NULL, &at, NULL, 0) != SCAN_PLAIN)
		return NULL;
	return p.root;
}

json_t *rumor_json_parse(const char *buf, size_t len, json_error_t *error)
{
	json_t *value = rumor_json_parse_plain(buf, len);
	if (value)
		return value;
	return json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, error);
}

void rumor_json_limits_default(struct rumor_json_limits *limits)
{
	limits->max_values = RUMOR_JSON_MAX_VALUES;
	limits->max_depth = RUMOR_JSON_MAX_DEPTH;
	limits->max_key_bytes = RUMOR_JSON_MAX_KEY_BYTES;
	limits->max_string_bytes = RUMOR_JSON_MAX_STRING_BYTES;
	limits->max_root_items = 0;
}

/* Line and column (1-based) of byte at of buf. */
static void line_column(const char *buf, size_t len, size_t at, size_t *line, size_t *column)
{
	*line = 1;
	size_t line_start = 0;
	if (at > len)
		at = len;
	for (size_t i = 0; i < at; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			line_start = i + 1;
		}
	}
	*column = at - line_start + 1;
}

/* The error for a text a limit stopped (p->limit_what set). */
static void limit_error(const struct plain *p, struct rumor_json_error *error)
{
	error->kind = RUMOR_JSON_ELIMIT;
	error->offset = p->limit_at;
	const char *w = p->limit_what;
	if (strcmp(w, "root items") == 0) {
		error->kind = RUMOR_JSON_EROOT_ITEMS;
		snprintf(error->text, sizeof(error->text),
			 "more than %zu elements in the top-level array (reading stopped at "
			 "byte %zu)",
			 p->limit_value, p->limit_at);
	} else if (strcmp(w, "values") == 0) {
		snprintf(error->text, sizeof(error->text),
			 "more than %zu JSON values (limit reached at byte %zu)", p->limit_value,
			 p->limit_at);
	} else if (strcmp(w, "depth") == 0) {
		snprintf(error->text, sizeof(error->text),
			 "nested deeper than %zu arrays or objects (at byte %zu)", p->limit_value,
			 p->limit_at);
	} else if (strcmp(w, "key bytes") == 0) {
		snprintf(error->text, sizeof(error->text),
			 "object key longer than %zu bytes (ending at byte %zu)", p->limit_value,
			 p->limit_at);
	} else {
		snprintf(error->text, sizeof(error->text),
			 "string longer than %zu bytes (ending at byte %zu)", p->limit_value,
			 p->limit_at);
	}
}

json_t *rumor_json_parse_limited(const char *buf, size_t len,
				 const struct rumor_json_limits *limits,
				 struct rumor_json_error *error)
{
	struct rumor_json_limits defaults;
	if (!limits) {
		rumor_json_limits_default(&defaults);
		limits = &defaults;
	}
	error->kind = RUMOR_JSON_OK;
	error->offset = 0;
	error->text[0] = '\0';

	struct plain p;
	size_t at;
	char why[160];
	enum scan_result r = scan(&p, buf, len, limits, &at, why, sizeof(why));
	switch (r) {
	case SCAN_PLAIN:
		return p.root;
	case SCAN_LIMIT:
		limit_error(&p, error);
		return NULL;
	case SCAN_OTHER:
	case SCAN_SYNTAX:
		break;
	}
	/* jansson decides (and words the error).  The text passed every limit
	 * as far as yajl read it, and jansson accepts no text that yajl
	 * refuses earlier, so what it builds is bounded by the limits too. */
	json_error_t jerr;
	json_t *value = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (value && r == SCAN_OTHER)
		return value;
	error->kind = RUMOR_JSON_ESYNTAX;
	if (!value) {
		size_t offset = jerr.position > 0 ? (size_t)jerr.position : 0;
		error->offset = offset;
		snprintf(error->text, sizeof(error->text), "%s (line %d, column %d, byte %zu)",
			 jerr.text, jerr.line, jerr.column, offset);
		return NULL;
	}
	/* yajl refused what jansson read: defensive, not known to happen */
	json_decref(value);
	size_t line, column;
	line_column(buf, len, at, &line, &column);
	error->offset = at;
	snprintf(error->text, sizeof(error->text), "%s (line %zu, column %zu, byte %zu)",
		 why[0] ? why : "invalid JSON", line, column, at);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Checking the limits while the text arrives                          */
/* ------------------------------------------------------------------ */

/*
 * One yajl handle reads the text as it arrives, with the callbacks above
 * counting against the limits and building nothing.  yajl gives the same
 * events for a text however it is cut into pieces, and rumor_json_parse_
 * limited() makes the same yajl pass over the whole text (same options);
 * so a limit this pass finds in a prefix is the limit, the byte and the
 * text that pass finds in the whole text.  Where the text is not JSON
 * (yajl refuses it) the check gives up: the full parse words that error.
 *
 * What is handed to yajl, and when: yajl keeps a token
 * that runs past the end of a piece in a buffer of its own, and re-reads
 * that buffer from its start with every later piece, so a long string fed
 * in 64 KiB pieces would cost time quadratic in its length (an 8 MiB
 * string: ~220 ms here, against ~7 ms in one piece).  So:
 *  - a piece ends just after a structural byte (, : [ ] { }), so numbers,
 *    literals and strings without such bytes (hex) are never cut; bytes
 *    after the last one wait for the next call;
 *  - once more than RUMOR_JSON_STREAM_STALL bytes went to yajl without an
 *    event (counted from the end of the last piece that had one), it is
 *    inside a long string holding structural bytes (the only
 *    token that can hold them; a long run of whitespace also lands here,
 *    harmlessly): nothing more is handed over until an unescaped '"' has
 *    arrived, and then the piece up to it, so yajl re-reads its buffer
 *    once.  Which bytes go when is a matter of cost only: yajl's answer
 *    does not depend on it.
 */
#define RUMOR_JSON_STREAM_STALL (64u * 1024)

struct rumor_json_stream {
	struct plain p;
	struct rumor_json_limits limits;
	yajl_handle handle;
	size_t fed;     /* bytes handed to yajl */
	size_t scanned; /* bytes searched for structural bytes */
	size_t cut;     /* just after the last structural byte found */
	size_t quote_from; /* searched for a string's end up to here */
	size_t quiet_from; /* no event in what was fed after this (a piece's start) */
	int gave_up;    /* yajl refused the text */
	struct rumor_json_error error; /* kind != OK: refused (final) */
};

struct rumor_json_stream *rumor_json_stream_new(const struct rumor_json_limits *limits)
{
	struct rumor_json_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (limits)
		s->limits = *limits;
	else
		rumor_json_limits_default(&s->limits);
	s->p.limits = &s->limits;
	/* building stays 0: nothing is built */
	s->handle = yajl_alloc(&plain_callbacks, NULL, &s->p);
	if (!s->handle) {
		free(s);
		return NULL;
	}
	s->p.handle = s->handle;
	/* the options of scan(), so both passes read the same events */
	yajl_config(s->handle, yajl_dont_validate_strings, 1);
	yajl_config(s->handle, yajl_allow_trailing_garbage, 1);
	return s;
}

void rumor_json_stream_del(struct rumor_json_stream *s)
{
	if (!s)
		return;
	yajl_free(s->handle);
	free(s);
}

/* 1 for , : [ ] { } (and for \f and 0x1a, which OR 0x20 turns into , and
 * :; a cut there costs nothing but a yajl call).  Bitwise, no branches:
 * a loop of it vectorises. */
static unsigned structural(unsigned char c)
{
	unsigned char folded = c | 0x20; /* [ ] to { } */
	return (unsigned)(folded == ',') | (unsigned)(folded == ':') | (unsigned)(folded == '{') |
	       (unsigned)(folded == '}');
}

/* 16 bytes at a time, with GCC's portable vector extension (SSE2 on
 * x86-64, NEON on arm64, plain code elsewhere). */
typedef unsigned char bytes16 __attribute__((vector_size(16)));

/* Whether text[0..64) holds a structural byte (or \f, 0x1a). */
static int block_has_structural(const unsigned char *text)
{
	bytes16 any = {0};
	for (int k = 0; k < 64; k += 16) {
		bytes16 v;
		memcpy(&v, text + k, sizeof(v)); /* unaligned */
		v |= 0x20;
		any |= (bytes16)(v == ',') | (bytes16)(v == ':') | (bytes16)(v == '{') |
		       (bytes16)(v == '}');
	}
	uint64_t halves[2];
	memcpy(halves, &any, sizeof(halves));
	return (halves[0] | halves[1]) != 0;
}

/* Just after the last structural byte of text[from..to), or 0 when there
 * is none.  From the end, 64 bytes at a time: hex runs at memory speed. */
static size_t last_structural(const unsigned char *text, size_t from, size_t to)
{
	size_t i = to;
	while (i > from) {
		size_t start = i - from >= 64 ? i - 64 : from;
		int any = 1;
		if (i - start == 64)
			any = block_has_structural(text + start);
		if (any) {
			for (size_t k = i; k > start; k--)
				if (structural(text[k - 1]))
					return k;
		}
		i = start;
	}
	return 0;
}

/* Just after the first '"' of text[from..to) that no backslash escapes
 * (an even run of them before it), or 0.  The run may reach back before
 * from: the text is all there. */
static size_t first_quote(const char *text, size_t from, size_t to)
{
	while (from < to) {
		const char *q = memchr(text + from, '"', to - from);
		if (!q)
			return 0;
		size_t at = (size_t)(q - text), run = 0;
		while (run < at && text[at - 1 - run] == '\\')
			run++;
		if (run % 2 == 0)
			return at + 1;
		from = at + 1;
	}
	return 0;
}

/* Hands text[fed..target) to yajl.  Returns 1 when a limit stopped it. */
static int stream_feed(struct rumor_json_stream *s, const char *text, size_t target)
{
	s->p.base = s->fed;
	size_t events = s->p.events;
	yajl_status status =
		yajl_parse(s->handle, (const unsigned char *)text + s->fed, target - s->fed);
	if (s->p.events != events)
		s->quiet_from = target; /* an event in this piece: count from its end */
	s->fed = target;
	if (s->p.limit_what) {
		limit_error(&s->p, &s->error);
		return 1;
	}
	if (status != yajl_status_ok)
		s->gave_up = 1; /* not JSON: the full parse says why */
	return 0;
}

enum rumor_json_error_kind rumor_json_stream_check(struct rumor_json_stream *s, const char *text,
						   size_t len, struct rumor_json_error *error)
{
	assert(len >= s->scanned); /* the same text, maybe longer */
	if (s->error.kind == RUMOR_JSON_OK && !s->gave_up) {
		size_t cut = last_structural((const unsigned char *)text, s->scanned, len);
		if (cut)
			s->cut = cut;
		s->scanned = len;
		for (;;) {
			size_t target = s->cut;
			if (s->fed - s->quiet_from > RUMOR_JSON_STREAM_STALL) {
				/* inside a long string: wait for its end */
				size_t from = s->quote_from > s->fed ? s->quote_from : s->fed;
				target = first_quote(text, from, len);
				s->quote_from = target ? target : len;
				if (!target)
					break;
			}
			if (target <= s->fed || stream_feed(s, text, target) || s->gave_up)
				break;
		}
	}
	if (error)
		*error = s->error;
	return s->error.kind;
}

size_t rumor_json_stream_parsed(const struct rumor_json_stream *s)
{
	return s->fed;
}
