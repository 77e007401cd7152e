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

#include <stdint.h>
#include <string.h>

#include <yajl/yajl_parse.h>

struct plain {
	uintptr_t start, end; /* the caller's text */
	json_t *root;
	json_t *stack[RUMOR_JSON_PLAIN_DEPTH]; /* open containers (borrowed) */
	size_t depth;
	char key[RUMOR_JSON_PLAIN_KEY_MAX + 1]; /* the pending object key */
	int have_key;
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

/* Adds v (stolen) to the open container, or makes it the root. */
static int add(struct plain *p, json_t *v)
{
	if (!v)
		return 0;
	if (p->depth == 0) {
		if (p->root) { /* yajl allows one value; defensive */
			json_decref(v);
			return 0;
		}
		p->root = v;
		return 1;
	}
	json_t *parent = p->stack[p->depth - 1];
	if (json_is_array(parent))
		return json_array_append_new(parent, v) == 0;
	if (!p->have_key || json_object_get(parent, p->key)) { /* duplicate key */
		json_decref(v);
		return 0;
	}
	p->have_key = 0;
	return json_object_set_new_nocheck(parent, p->key, v) == 0;
}

static int on_null(void *ctx)
{
	return add(ctx, json_null());
}

static int on_boolean(void *ctx, int value)
{
	return add(ctx, json_boolean(value));
}

static int on_number(void *ctx, const char *s, size_t len)
{
	size_t i = 0;
	int negative = 0;
	if (len > 0 && s[0] == '-') {
		negative = 1;
		i = 1;
	}
	if (len - i == 0 || len - i > 18)
		return 0; /* reals and big integers: jansson's strtoll/strtod */
	json_int_t value = 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0; /* '.', 'e', 'E': a real */
		value = value * 10 + (s[i] - '0');
	}
	return add(ctx, json_integer(negative ? -value : value));
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
	struct plain *p = ctx;
	if (!plain_bytes(p, s, len))
		return 0;
	return add(p, json_stringn_nocheck((const char *)s, len));
}

static int open_container(struct plain *p, json_t *container)
{
	if (p->depth == RUMOR_JSON_PLAIN_DEPTH) {
		json_decref(container);
		return 0;
	}
	if (!add(p, container))
		return 0;
	p->stack[p->depth++] = container; /* owned by its parent, or the root */
	return 1;
}

static int on_start_map(void *ctx)
{
	return open_container(ctx, json_object());
}

static int on_start_array(void *ctx)
{
	return open_container(ctx, json_array());
}

static int on_map_key(void *ctx, const unsigned char *s, size_t len)
{
	struct plain *p = ctx;
	if (len > RUMOR_JSON_PLAIN_KEY_MAX || !plain_bytes(p, s, len))
		return 0;
	memcpy(p->key, s, len);
	p->key[len] = '\0';
	p->have_key = 1;
	return 1;
}

static int on_end_container(void *ctx)
{
	struct plain *p = ctx;
	if (p->depth == 0) /* yajl balances them; defensive */
		return 0;
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

json_t *rumor_json_parse_plain(const char *buf, size_t len)
{
	/* yajl would read "\f1" or "[1,\v2]" as 1 and [1,2]; jansson rejects
	 * them.  memchr is cheap next to the parse. */
	if (len && (memchr(buf, '\f', len) || memchr(buf, '\v', len)))
		return NULL;

	struct plain p;
	p.start = (uintptr_t)buf;
	p.end = (uintptr_t)buf + len;
	p.root = NULL;
	p.depth = 0;
	p.have_key = 0;

	yajl_handle h = yajl_alloc(&plain_callbacks, NULL, &p);
	if (!h)
		return NULL;
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
	yajl_status status = yajl_parse(h, (const unsigned char *)buf, len);
	if (status == yajl_status_ok && p.root && p.depth == 0) {
		end = yajl_get_bytes_consumed(h);
	} else if (status == yajl_status_ok) {
		/* Not complete yet: a number running to the end of the text
		 * (yajl cannot know it ended), or a truncated text. */
		status = yajl_complete_parse(h);
	}
	int ok = status == yajl_status_ok && p.root && p.depth == 0 && end <= len;
	for (size_t i = end; ok && i < len; i++)
		ok = buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r';
	yajl_free(h);
	if (!ok) {
		json_decref(p.root); /* NULL-safe */
		return NULL;
	}
	return p.root;
}

json_t *rumor_json_parse(const char *buf, size_t len, json_error_t *error)
{
	json_t *value = rumor_json_parse_plain(buf, len);
	if (value)
		return value;
	return json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, error);
}
