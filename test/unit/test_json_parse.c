/*
 * test/unit/test_json_parse.c: rpc/json_parse.h against jansson itself.
 *
 * Two properties, for a table of fixed texts, for generated JSON-RPC
 * batches and for a few thousand random texts (fixed seed, so a failure
 * reproduces):
 *  (a) rumor_json_parse() agrees with
 *      json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES): both NULL, or
 *      both values and json_equal (which tells an integer from a real);
 *  (b) the plain (yajl) parse is taken exactly where the table says.  The
 *      plain cases are the shapes JSON-RPC clients send, so the fast path
 *      is proved to engage; the others are each a way the two libraries
 *      could read a text differently, so it must decline and let jansson
 *      decide.
 * Every text is copied into a heap buffer of its exact length (no
 * terminating NUL), so ASan catches a read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc/json_parse.h"

#define FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)

/* ---- growable text ---- */

struct text {
	char *p;
	size_t len, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (n == 0)
		return; /* memcpy to a NULL t->p is undefined even for 0 bytes */
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2 + 64;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
}

static void puts_text(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void putc_text(struct text *t, char c)
{
	put(t, &c, 1);
}

/* A printable rendering of a text for failure messages (static buffer). */
static const char *show(const char *s, size_t len)
{
	static char out[256];
	size_t o = 0;
	for (size_t i = 0; i < len && o < sizeof(out) - 8; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
	}
	if (o >= sizeof(out) - 8)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "...");
	out[o] = '\0';
	return out;
}

/* ---- the two properties ---- */

enum { DECLINE = 0, PLAIN = 1, ANY = 2 };

struct outcome {
	int plain;   /* the plain parse gave a value */
	int accepts; /* jansson gave a value */
};

/*
 * Checks (a) and, for every text, that a plain value is jansson's value
 * (the plain parse may decline a valid text, never change or invent one).
 * want is PLAIN or DECLINE for (b), or ANY for random texts.
 */
static struct outcome check_bytes(const char *text, size_t len, int want)
{
	char *buf = malloc(len ? len : 1);
	assert_non_null(buf);
	memcpy(buf, text, len);

	json_error_t err;
	json_t *ref = json_loadb(buf, len, FLAGS, &err);
	json_t *plain = rumor_json_parse_plain(buf, len);
	json_t *got = rumor_json_parse(buf, len, &err);

	if (!got != !ref)
		fail_msg("rumor_json_parse %s, jansson %s: \"%s\"", got ? "accepts" : "rejects",
			 ref ? "accepts" : "rejects", show(text, len));
	if (got && !json_equal(got, ref))
		fail_msg("rumor_json_parse and jansson differ: \"%s\"", show(text, len));
	if (plain && (!ref || !json_equal(plain, ref)))
		fail_msg("plain value is not jansson's (%s): \"%s\"",
			 ref ? "different" : "jansson rejects", show(text, len));
	if (want != ANY && !!plain != want)
		fail_msg("plain parse %s, expected it to %s: \"%s\"",
			 plain ? "taken" : "declined", want ? "be taken" : "decline",
			 show(text, len));

	struct outcome o = {plain != NULL, ref != NULL};
	json_decref(ref);
	json_decref(plain);
	json_decref(got);
	free(buf);
	return o;
}

static struct outcome check(const char *text, int want)
{
	return check_bytes(text, strlen(text), want);
}

/* ---- the table ---- */

struct parse_case {
	const char *text;
	size_t len;
	int plain;   /* PLAIN: the fast path must take it; DECLINE: must not */
	int accepts; /* what jansson says, so the table documents both halves */
};

/* sizeof, not strlen: some texts hold a NUL byte. */
#define CASE(text, plain, accepts) {text, sizeof(text) - 1, plain, accepts}

#define HEX "0100000001ab3c5f9e00ff12"
#define CALL "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sendrawtransaction\",\"params\":[\"" HEX "\"]}"

static const struct parse_case cases[] = {
	/* JSON-RPC shapes: the fast path. */
	CASE(CALL, PLAIN, 1),
	CASE("[" CALL "," CALL "," CALL "]", PLAIN, 1),
	CASE("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":[]}", PLAIN, 1),
	CASE("{\"jsonrpc\":\"2.0\",\"id\":\"req-7\",\"method\":\"getinfo\"}", PLAIN, 1),
	CASE("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"getinfo\"}", PLAIN, 1),
	CASE("{\"jsonrpc\":\"2.0\",\"id\":-42,\"method\":\"getinfo\"}", PLAIN, 1),
	CASE("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"sendrawtransaction\","
	     "\"params\":{\"hex\":\"" HEX "\",\"allowhighfees\":false}}", PLAIN, 1),
	CASE("[true,false,null]", PLAIN, 1),
	CASE("{}", PLAIN, 1),
	CASE("[]", PLAIN, 1),
	CASE("[{},[],{\"a\":[]}]", PLAIN, 1),
	CASE(" \t\r\n{ \"a\" : [ 1 , 2 ] ,\n\t\"b\" : { } } \r\n", PLAIN, 1),
	CASE("[123456789012345678,-999999999999999999]", PLAIN, 1),
	CASE("-0", PLAIN, 1),
	CASE("[0,-0,7]", PLAIN, 1),
	CASE("{\"\":\"\"}", PLAIN, 1),
	CASE("{\"a\":{\"a\":{\"a\":1}}}", PLAIN, 1), /* same key, different objects */
	CASE("[{\"id\":1},{\"id\":1}]", PLAIN, 1),
	CASE("\" !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~\"", PLAIN, 1),
	/* Top-level scalars: plain, and allowed by JSON_DECODE_ANY. */
	CASE("3", PLAIN, 1),
	CASE("\"x\"", PLAIN, 1),
	CASE("true", PLAIN, 1),
	CASE("false", PLAIN, 1),
	CASE("null", PLAIN, 1),
	CASE(" -12 ", PLAIN, 1),

	/* Escapes: yajl decodes them, jansson decides. */
	CASE("[\"a\\nb\"]", DECLINE, 1),
	CASE("[\"a\\\"b\"]", DECLINE, 1),
	CASE("[\"\\/\"]", DECLINE, 1),
	CASE("[\"\\u0041\"]", DECLINE, 1),
	CASE("[\"\\u0000\"]", DECLINE, 0), /* jansson: NUL needs JSON_ALLOW_NUL */
	CASE("[\"\\ud800\"]", DECLINE, 0),  /* lone surrogate */
	CASE("[\"\\udc00x\"]", DECLINE, 0),
	CASE("[\"\\ud83d\\ude00\"]", DECLINE, 1), /* surrogate pair */
	CASE("{\"a\\u0062\":1}", DECLINE, 1),
	CASE("[\"\\x\"]", DECLINE, 0),
	/* Bytes outside printable ASCII inside strings. */
	CASE("[\"\xc3\xa9\"]", DECLINE, 1), /* é */
	CASE("{\"\xc3\xa9\":1}", DECLINE, 1),
	CASE("[\"\xff\"]", DECLINE, 0),
	CASE("[\"\xc3\"]", DECLINE, 0),
	CASE("[\"\xc0\xaf\"]", DECLINE, 0), /* overlong */
	CASE("[\"\xed\xa0\x80\"]", DECLINE, 0), /* UTF-8 surrogate */
	CASE("[\"a\tb\"]", DECLINE, 0),
	CASE("[\"\x01\"]", DECLINE, 0),
	CASE("[\"\x7f\"]", DECLINE, 1), /* DEL is valid JSON, but not plain */
	/* Reals and integers past 18 digits: jansson's strtod/strtoll. */
	CASE("1.5", DECLINE, 1),
	CASE("1e3", DECLINE, 1),
	CASE("[1E+2,2e-1]", DECLINE, 1),
	CASE("-0.0", DECLINE, 1),
	CASE("[0.0]", DECLINE, 1),
	CASE("1234567890123456789", DECLINE, 1),
	CASE("9223372036854775807", DECLINE, 1),
	CASE("-9223372036854775808", DECLINE, 1),
	CASE("9223372036854775808", DECLINE, 0),
	CASE("-9223372036854775809", DECLINE, 0),
	CASE("[100000000000000000000000000000]", DECLINE, 0),
	/* Duplicate keys: JSON_REJECT_DUPLICATES. */
	CASE("{\"a\":1,\"a\":2}", DECLINE, 0),
	CASE("{\"a\":1,\"b\":2,\"a\":1}", DECLINE, 0),
	CASE("{\"x\":{\"a\":[],\"a\":{}}}", DECLINE, 0),
	CASE("[" CALL ",{\"id\":1,\"id\":2}]", DECLINE, 0),
	/* Syntax errors and non-JSON. */
	CASE("", DECLINE, 0),
	CASE(" \n\t\r ", DECLINE, 0),
	CASE("{} x", DECLINE, 0),
	CASE("[1]]", DECLINE, 0),
	CASE("1 2", DECLINE, 0),
	CASE("{}{}", DECLINE, 0),
	CASE("[1,]", DECLINE, 0),
	CASE("{\"a\":1,}", DECLINE, 0),
	CASE("[,1]", DECLINE, 0),
	CASE("01", DECLINE, 0),
	CASE("[-01]", DECLINE, 0),
	CASE("-", DECLINE, 0),
	CASE("+1", DECLINE, 0),
	CASE(".5", DECLINE, 0),
	CASE("1.", DECLINE, 0),
	CASE("/* c */ 1", DECLINE, 0),
	CASE("// c\n1", DECLINE, 0),
	CASE("[1] // c", DECLINE, 0),
	CASE("'x'", DECLINE, 0),
	CASE("{'a':1}", DECLINE, 0),
	CASE("NaN", DECLINE, 0),
	CASE("Infinity", DECLINE, 0),
	CASE("[-Infinity]", DECLINE, 0),
	CASE("True", DECLINE, 0),
	CASE("nulll", DECLINE, 0),
	CASE("tru", DECLINE, 0),
	CASE("[1", DECLINE, 0),
	CASE("{\"a\":", DECLINE, 0),
	CASE("\"abc", DECLINE, 0),
	CASE("{\"a\" 1}", DECLINE, 0),
	CASE("{1:2}", DECLINE, 0),
	CASE("{\"a\"}", DECLINE, 0),
	CASE("[1 2]", DECLINE, 0),
	CASE("\xef\xbb\xbf{}", DECLINE, 0), /* byte order mark */
	/* A NUL byte in the buffer. */
	CASE("{}\0", DECLINE, 0),
	CASE("[1,\0 2]", DECLINE, 0),
	CASE("[\"a\0b\"]", DECLINE, 0),
	CASE("\0", DECLINE, 0),
	/*
	 * Form feed and vertical tab: yajl's lexer skips them as whitespace,
	 * RFC 8259 and jansson do not.  These once came back from the plain
	 * parse as 1, [1,2] and {}.
	 */
	CASE("\f1", DECLINE, 0),
	CASE("[1,\v2]", DECLINE, 0),
	CASE("{}\f", DECLINE, 0),
	CASE("{\"a\":\v1}", DECLINE, 0),
	/*
	 * An unterminated string after the value: yajl's lexer waits for the
	 * rest of the token instead of calling it trailing garbage.  These
	 * once came back from the plain parse as 0, {}, [1] and "x".
	 */
	CASE("0\"a", DECLINE, 0),
	CASE("{} \"abc", DECLINE, 0),
	CASE("[1]\"]", DECLINE, 0),
	CASE("\"x\" \"abc\\\"", DECLINE, 0),
	CASE("{} \"", DECLINE, 0),
	CASE(CALL " \"\\u12", DECLINE, 0),
	/* Other tails that could be mistaken for more input. */
	CASE("{} 12", DECLINE, 0),
	CASE("1 tru", DECLINE, 0),
	CASE("[1] -", DECLINE, 0),
	CASE("12\"", DECLINE, 0),
};

static void test_table(void **state)
{
	size_t n_plain = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		struct outcome o = check_bytes(c->text, c->len, c->plain);
		if (o.accepts != c->accepts)
			fail_msg("case %zu: jansson %s \"%s\"; the table says otherwise", i,
				 o.accepts ? "accepts" : "rejects", show(c->text, c->len));
		n_plain += (size_t)o.plain;
	}
	assert_true(n_plain >= 20);
}

/* A key of n 'k' bytes in an object, as plain as a key can be but for its
 * length. */
static void test_key_length(void **state)
{
	for (size_t n = RUMOR_JSON_PLAIN_KEY_MAX - 2; n <= RUMOR_JSON_PLAIN_KEY_MAX + 2; n++) {
		struct text t = {0};
		puts_text(&t, "{\"id\":1,\"");
		for (size_t i = 0; i < n; i++)
			putc_text(&t, 'k');
		puts_text(&t, "\":[1]}");
		check_bytes(t.p, t.len, n <= RUMOR_JSON_PLAIN_KEY_MAX ? PLAIN : DECLINE);
		free(t.p);
	}
	/* A long key that is a duplicate: still jansson's rejection. */
	struct text t = {0};
	for (int twice = 0; twice < 2; twice++) {
		puts_text(&t, twice ? ",\"" : "{\"");
		for (size_t i = 0; i < RUMOR_JSON_PLAIN_KEY_MAX + 10; i++)
			putc_text(&t, 'k');
		puts_text(&t, "\":1");
	}
	putc_text(&t, '}');
	assert_false(check_bytes(t.p, t.len, DECLINE).accepts);
	free(t.p);
}

/* Arrays and objects nested n deep, around an integer. */
static void nested(struct text *t, size_t n, int objects)
{
	t->len = 0;
	for (size_t i = 0; i < n; i++)
		puts_text(t, objects ? "{\"a\":" : "[");
	puts_text(t, "7");
	for (size_t i = 0; i < n; i++)
		putc_text(t, objects ? '}' : ']');
}

static void test_depth(void **state)
{
	struct text t = {0};
	for (int objects = 0; objects < 2; objects++) {
		for (size_t n = 1; n <= RUMOR_JSON_PLAIN_DEPTH + 3; n++) {
			nested(&t, n, objects);
			struct outcome o =
				check_bytes(t.p, t.len, n <= RUMOR_JSON_PLAIN_DEPTH ? PLAIN : DECLINE);
			assert_true(o.accepts);
		}
		/* Past jansson's own limit (2048): both say no, and nothing
		 * leaks on the way out. */
		nested(&t, 3000, objects);
		assert_false(check_bytes(t.p, t.len, DECLINE).accepts);
	}
	free(t.p);
}

/* A hex string of n characters, varied so no two calls are alike. */
static void put_hex(struct text *t, size_t n, uint32_t seed)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		putc_text(t, digits[(seed >> 16) & 15]);
	}
}

/* The batch a wallet or bench client sends: 1000 sendrawtransaction calls,
 * each with a 744-character hex transaction. */
static void test_big_batch(void **state)
{
	struct text t = {0};
	putc_text(&t, '[');
	for (int i = 0; i < 1000; i++) {
		char head[96];
		snprintf(head, sizeof(head),
			 "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"sendrawtransaction\","
			 "\"params\":[\"",
			 i ? "," : "", i);
		puts_text(&t, head);
		put_hex(&t, 744, (uint32_t)i);
		puts_text(&t, "\"]}");
	}
	putc_text(&t, ']');

	json_t *plain = rumor_json_parse_plain(t.p, t.len);
	assert_non_null(plain);
	json_error_t err;
	json_t *ref = json_loadb(t.p, t.len, FLAGS, &err);
	assert_non_null(ref);
	assert_true(json_equal(plain, ref));
	assert_int_equal(json_array_size(plain), 1000);
	json_t *last = json_array_get(plain, 999);
	assert_int_equal(json_integer_value(json_object_get(last, "id")), 999);
	const char *hex = json_string_value(json_array_get(json_object_get(last, "params"), 0));
	assert_non_null(hex);
	assert_int_equal(strlen(hex), 744);
	json_decref(plain);
	json_decref(ref);

	check_bytes(t.p, t.len, PLAIN);
	free(t.p);
}

/* ---- random texts ---- */

/* splitmix64: a fixed seed gives the same texts on every run and machine. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static size_t pick(size_t n)
{
	return (size_t)(rng() % n);
}

#define PICK(array) ((array)[pick(sizeof(array) / sizeof((array)[0]))])

/* Whitespace between tokens: mostly JSON's four, rarely yajl's extra two. */
static void put_space(struct text *t)
{
	static const char *const spaces[] = {"", "", "", "", " ", "\n", "\t", "\r\n", "  ",
					     "", "", "", " ", "\f", "\v"};
	const char *s = PICK(spaces);
	if ((s[0] == '\f' || s[0] == '\v') && pick(8) != 0)
		s = " ";
	puts_text(t, s);
}

static const char *const keys[] = {
	"\"a\"", "\"b\"", "\"id\"", "\"jsonrpc\"", "\"method\"", "\"params\"", "\"\"",
	"\"a\\u0062\"", "\"\xc3\xa9\"", "\"k\\\"\"", "\"ab\"",
};

static const char *const strings[] = {
	"\"2.0\"", "\"sendrawtransaction\"", "\"00ab\"", "\"\"", "\"x y\"", "\"a\\nb\"",
	"\"\\u0041\"", "\"\\u0000\"", "\"\\ud800\"", "\"\\ud83d\\ude00\"", "\"\xc3\xa9\"",
	"\"\xff\"", "\"\x7f\"", "\"a\tb\"", "\"/\"", "\"\\/\"", "\"~\"",
};

static const char *const numbers[] = {
	"0", "-0", "1", "-1", "42", "123456789012345678", "-123456789012345678",
	"999999999999999999", "1234567890123456789", "9223372036854775807",
	"9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1.5", "-0.0",
	"1e3", "2E-2", "01", "-", "1.", "+1",
};

/* 65 bytes: one past RUMOR_JSON_PLAIN_KEY_MAX. */
static const char long_key[] =
	"\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"";

static void gen_value(struct text *t, int depth);

static void gen_container(struct text *t, int depth, int object)
{
	putc_text(t, object ? '{' : '[');
	size_t n = pick(5);
	for (size_t i = 0; i < n; i++) {
		put_space(t);
		if (i)
			putc_text(t, ',');
		put_space(t);
		if (object) {
			/* A small pool of keys makes duplicates common. */
			puts_text(t, pick(4) ? PICK(keys) : long_key);
			put_space(t);
			putc_text(t, ':');
			put_space(t);
		}
		gen_value(t, depth + 1);
	}
	put_space(t);
	putc_text(t, object ? '}' : ']');
}

static void gen_value(struct text *t, int depth)
{
	size_t kind = depth > 6 ? 2 + pick(6) : pick(8);
	switch (kind) {
	case 0:
		gen_container(t, depth, 1);
		break;
	case 1:
		gen_container(t, depth, 0);
		break;
	case 2:
	case 3:
		puts_text(t, pick(3) ? PICK(strings) : "\"plain text\"");
		break;
	case 4:
	case 5:
		puts_text(t, pick(2) ? PICK(numbers) : "7");
		break;
	default: {
		static const char *const literals[] = {"true", "false", "null"};
		puts_text(t, PICK(literals));
	}
	}
}

/* A JSON-RPC call built of generated pieces, so many texts are plain. */
static void gen_call(struct text *t)
{
	put_space(t);
	puts_text(t, "{\"jsonrpc\":\"2.0\",");
	put_space(t);
	if (pick(4)) {
		puts_text(t, "\"id\":");
		gen_value(t, 5);
		putc_text(t, ',');
	}
	puts_text(t, "\"method\":\"sendrawtransaction\",\"params\":");
	put_space(t);
	gen_container(t, 1, (int)pick(2));
	put_space(t);
	putc_text(t, '}');
	put_space(t);
}

/* One random edit: replace, insert or delete a byte, duplicate or cut a
 * slice. */
static void mutate(struct text *t)
{
	static const char interesting[] = "{}[],:\" \\-0129.eE+tfn\f\v\t\n\x7f\xc3\xff";
	size_t at = t->len ? pick(t->len) : 0;
	char c = (char)(pick(4) ? interesting[pick(sizeof(interesting) - 1)] : (int)pick(256));
	switch (pick(5)) {
	case 0:
		if (t->len)
			t->p[at] = c;
		break;
	case 1:
		putc_text(t, ' '); /* room for one more byte */
		memmove(t->p + at + 1, t->p + at, t->len - 1 - at);
		t->p[at] = c;
		break;
	case 2:
		if (t->len) {
			memmove(t->p + at, t->p + at + 1, t->len - at - 1);
			t->len--;
		}
		break;
	case 3: {
		size_t n = pick(t->len - at + 1);
		char *copy = malloc(n + 1);
		assert_non_null(copy);
		memcpy(copy, t->p + at, n);
		put(t, copy, n);
		free(copy);
		break;
	}
	default:
		t->len = at;
	}
}

static const char *const tokens[] = {
	"{", "}", "[", "]", ",", ":", "\"a\"", "\"b\"", "\"\"", "1", "-0", "0", "-",
	"123456789012345678", "1234567890123456789", "1.5", "1e3", "true", "false", "null",
	" ", "\t", "\n", "\f", "\v", "\"\\n\"", "\"\\u0041\"", "\"\xc3\xa9\"", "\xc3\xa9", "\0",
	"\"a", "x", "/", "//", "/*", "*/", "'", "NaN", "\x7f",
};

static void test_random(void **state)
{
	rng_state = 0x72756d6f72u; /* "rumor"; fixed */
	size_t n_plain = 0, n_declined_valid = 0, n_invalid = 0;
	struct text t = {0};
	for (int i = 0; i < 6000; i++) {
		t.len = 0;
		switch (i % 3) {
		case 0: /* a soup of tokens */
			for (size_t k = 1 + pick(24); k > 0; k--) {
				const char *tok = PICK(tokens);
				put(&t, tok, tok[0] ? strlen(tok) : 1);
			}
			break;
		case 1: /* a generated document, some of them edited */
			put_space(&t);
			gen_value(&t, 0);
			put_space(&t);
			for (size_t k = pick(4) == 0 ? 1 + pick(3) : 0; k > 0; k--)
				mutate(&t);
			break;
		default: /* a JSON-RPC call or batch, some of them edited */
			if (pick(2)) {
				gen_call(&t);
			} else {
				putc_text(&t, '[');
				for (size_t k = 1 + pick(4); k > 0; k--) {
					gen_call(&t);
					if (k > 1)
						putc_text(&t, ',');
				}
				putc_text(&t, ']');
			}
			for (size_t k = pick(3) == 0 ? 1 + pick(2) : 0; k > 0; k--)
				mutate(&t);
		}
		struct outcome o = check_bytes(t.p ? t.p : "", t.len, ANY);
		n_plain += (size_t)o.plain;
		n_declined_valid += (size_t)(!o.plain && o.accepts);
		n_invalid += (size_t)!o.accepts;
	}
	free(t.p);
	print_message("random texts: %zu plain, %zu valid but declined, %zu invalid\n", n_plain,
		      n_declined_valid, n_invalid);
	/* The generator must reach all three outcomes, or it proves little. */
	assert_true(n_plain >= 300);
	assert_true(n_declined_valid >= 300);
	assert_true(n_invalid >= 300);
}

/* The plain parse must also be right about its own inputs' edges: a plain
 * text that is a prefix of a longer buffer is read only up to len. */
static void test_length_bound(void **state)
{
	static const char full[] = "[1,2]  {\"a\":1}";
	check_bytes(full, 5, PLAIN);
	check_bytes(full, 7, PLAIN);
	check_bytes(full, 8, DECLINE);
	check_bytes(full, 2, DECLINE);
	check("[1,2]", PLAIN);
	check("{\"jsonrpc\":\"2.0\"}", PLAIN);
}

/* The limits: each refuses with its own kind and words, where it was
 * crossed; texts within them parse as rumor_json_parse does. */
static void test_limits(void **state)
{
	struct rumor_json_limits lim;
	rumor_json_limits_default(&lim);
	lim.max_values = 5;
	lim.max_depth = 3;
	lim.max_key_bytes = 4;
	lim.max_string_bytes = 6;
	lim.max_root_items = 3;
	struct rumor_json_error e;
	static const struct {
		const char *text;
		enum rumor_json_error_kind kind;
		const char *words;
	} limit_cases[] = {
		{"[1,2,{\"a\":\"b\"}]", RUMOR_JSON_OK, NULL},
		{"[1,2,\"\\u00e9\"]", RUMOR_JSON_OK, NULL}, /* not plain: jansson, limits kept */
		{"{\"a\":[1,2,3,4,5]}", RUMOR_JSON_ELIMIT, "more than 5 JSON values (limit reached at byte 13)"},
		{"{\"a\":[1,2,3,4,\"\\u00e9\"]}", RUMOR_JSON_ELIMIT, "more than 5 JSON values"},
		{"[[[[1]]]]", RUMOR_JSON_ELIMIT, "nested deeper than 3 arrays or objects (at byte 4)"},
		{"{\"abcde\":1}", RUMOR_JSON_ELIMIT, "object key longer than 4 bytes"},
		{"[\"abcdefg\"]", RUMOR_JSON_ELIMIT, "string longer than 6 bytes"},
		{"[\"ab\\u0063defg\"]", RUMOR_JSON_ELIMIT, "string longer than 6 bytes"},
		{"[1,2,3,4]", RUMOR_JSON_EROOT_ITEMS, "more than 3 elements in the top-level array"},
		{"[1,2", RUMOR_JSON_ESYNTAX, "']' expected near end of file (line 1, column 4, byte 4)"},
		{"{\"a\":1,\"a\":2}", RUMOR_JSON_ESYNTAX, "duplicate object key"},
		{"[1]\f", RUMOR_JSON_ESYNTAX, "end of file expected"},
		{"", RUMOR_JSON_ESYNTAX, "end of file"},
	};
	for (size_t i = 0; i < sizeof(limit_cases) / sizeof(limit_cases[0]); i++) {
		size_t len = strlen(limit_cases[i].text);
		char *buf = malloc(len + 1);
		memcpy(buf, limit_cases[i].text, len); /* no NUL read: ASan checks */
		json_t *v = rumor_json_parse_limited(buf, len, &lim, &e);
		if (limit_cases[i].kind == RUMOR_JSON_OK) {
			assert_non_null(v);
			json_t *ref = rumor_json_parse(buf, len, NULL);
			assert_true(json_equal(v, ref));
			json_decref(ref);
			json_decref(v);
		} else {
			assert_null(v);
			if (e.kind != limit_cases[i].kind || !strstr(e.text, limit_cases[i].words))
				fail_msg("%s: kind %d, \"%s\"", limit_cases[i].text, e.kind, e.text);
		}
		free(buf);
	}
	/* a 32 MiB body of tiny values stops at the limit */
	size_t n = 16u << 20;
	char *big = malloc(2 * n + 1);
	big[0] = '[';
	for (size_t i = 0; i < n; i++) {
		big[1 + 2 * i] = '0';
		big[2 + 2 * i] = ',';
	}
	big[2 * n] = ']';
	rumor_json_limits_default(&lim);
	assert_null(rumor_json_parse_limited(big, 2 * n + 1, &lim, &e));
	assert_int_equal(e.kind, RUMOR_JSON_ELIMIT);
	assert_true(e.offset < 2 * RUMOR_JSON_MAX_VALUES + 8);
	free(big);
}

/* ---- the limits while the text arrives (rumor_json_stream) ---- */

/* Feeds text[0..len) to a stream in pieces: the i-th call sees the first
 * cuts[i] bytes (cuts ascending, the last len).  Returns the verdict of
 * the first refusal (then *at is how many bytes the stream had, and
 * *parsed how many it handed to yajl), or OK after the whole text. */
static enum rumor_json_error_kind stream_pieces(const char *text, const size_t *cuts,
						size_t n_cuts, const struct rumor_json_limits *lim,
						struct rumor_json_error *e, size_t *at,
						size_t *parsed)
{
	struct rumor_json_stream *st = rumor_json_stream_new(lim);
	assert_non_null(st);
	enum rumor_json_error_kind k = RUMOR_JSON_OK;
	*at = 0;
	for (size_t i = 0; i < n_cuts && k == RUMOR_JSON_OK; i++) {
		k = rumor_json_stream_check(st, text, cuts[i], e);
		*at = cuts[i];
	}
	*parsed = rumor_json_stream_parsed(st);
	if (k != RUMOR_JSON_OK) { /* final: repeated, whatever comes */
		struct rumor_json_error again;
		assert_int_equal(rumor_json_stream_check(st, text, *at, &again), k);
		assert_string_equal(again.text, e->text);
	}
	rumor_json_stream_del(st);
	return k;
}

/* The stream's refusal is the whole parse's error, word for word; and a
 * text ending in ] or } whose whole parse hits a limit is refused by the
 * stream once all of it has come. */
static void stream_agrees(const char *text, size_t len, const size_t *cuts, size_t n_cuts,
			  const struct rumor_json_limits *lim)
{
	struct rumor_json_error whole, e;
	json_t *v = rumor_json_parse_limited(text, len, lim, &whole);
	json_decref(v);
	size_t at, parsed;
	enum rumor_json_error_kind k = stream_pieces(text, cuts, n_cuts, lim, &e, &at, &parsed);
	if (k != RUMOR_JSON_OK) {
		if (whole.kind != k || whole.offset != e.offset || strcmp(whole.text, e.text) != 0)
			fail_msg("%s: stream \"%s\", whole \"%s\"", show(text, len), e.text,
				 whole.text);
		assert_true(e.offset <= parsed && parsed <= at);
	} else if ((whole.kind == RUMOR_JSON_ELIMIT || whole.kind == RUMOR_JSON_EROOT_ITEMS) &&
		   len > 0 && (text[len - 1] == ']' || text[len - 1] == '}')) {
		fail_msg("%s: whole \"%s\", stream let it through", show(text, len), whole.text);
	}
}

static void small_limits(struct rumor_json_limits *lim)
{
	rumor_json_limits_default(lim);
	lim->max_values = 5;
	lim->max_depth = 3;
	lim->max_key_bytes = 4;
	lim->max_string_bytes = 6;
	lim->max_root_items = 3;
}

/* Every text in pieces of every size, and cut once at every byte. */
static void test_stream_every_cut(void **state)
{
	static const char *const texts[] = {
		"[1,2,{\"a\":\"b\"}]", "{\"a\":[1,2,3,4,5]}", "[[[[1]]]]", "{\"abcde\":1}",
		"[\"abcdefg\"]", "[\"ab\\u0063defg\"]", "[\"a\\\"b,c\\\\\",1,2,3]", "[1,2,3,4]",
		"[1,2", "[1,,2,3,4,5,6]", "{\"a\":1,\"a\":2,\"b\":3,\"c\":4}", "[1]\f[2,3,4,5]",
		"[1.5e3, -0, true, false, null]", " [ 1 , 2 ] ", "{\"ab\":{\"cd\":[1]}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1}", "[1,2,3", "123", "\"abcdefgh\"", "",
	};
	struct rumor_json_limits lim;
	small_limits(&lim);
	size_t cuts[64];
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len = strlen(texts[i]);
		char *buf = malloc(len + 1);
		memcpy(buf, texts[i], len); /* no NUL read: ASan checks */
		for (size_t piece = 1; piece <= len; piece++) {
			size_t n = 0;
			for (size_t c = piece; c < len; c += piece)
				cuts[n++] = c;
			cuts[n++] = len;
			stream_agrees(buf, len, cuts, n, &lim);
		}
		for (size_t c = 0; c <= len; c++) {
			cuts[0] = c;
			cuts[1] = len;
			stream_agrees(buf, len, cuts, 2, &lim);
		}
		free(buf);
	}
}

/* Random texts (the generator of test_random) in random pieces, with the
 * small limits and the defaults. */
static void test_stream_random(void **state)
{
	rng_state = 0x73747265u; /* fixed */
	struct rumor_json_limits small, dflt;
	small_limits(&small);
	rumor_json_limits_default(&dflt);
	struct text t = {0};
	size_t cuts[256];
	for (int i = 0; i < 4000; i++) {
		t.len = 0;
		if (i % 2) {
			put_space(&t);
			gen_value(&t, 0);
		} else {
			for (size_t k = 1 + pick(24); k > 0; k--) {
				const char *tok = PICK(tokens);
				put(&t, tok, tok[0] ? strlen(tok) : 1);
			}
		}
		if (pick(4) == 0)
			mutate(&t);
		char *buf = malloc(t.len + 1);
		memcpy(buf, t.p ? t.p : "", t.len);
		size_t n = 0;
		for (size_t c = pick(8) + 1; c < t.len && n < 255; c += pick(8) + 1)
			cuts[n++] = c;
		cuts[n++] = t.len;
		stream_agrees(buf, t.len, cuts, n, &small);
		stream_agrees(buf, t.len, cuts, n, &dflt);
		free(buf);
	}
	free(t.p);
}

/* The limit crossed in the middle of a piece: refused at that piece, with
 * the byte where it was crossed. */
static void test_stream_mid_piece(void **state)
{
	struct rumor_json_limits lim;
	rumor_json_limits_default(&lim);
	lim.max_values = 5;
	static const char text[] = "[0,0,0,0,0,0,0,0,0,0,0,0]";
	size_t cuts[] = {7, 14, 21, sizeof(text) - 1};
	struct rumor_json_error e;
	size_t at, parsed;
	/* the array and four zeros pass; the fifth zero (ends at byte 10) is
	 * the sixth value */
	assert_int_equal(stream_pieces(text, cuts, 4, &lim, &e, &at, &parsed), RUMOR_JSON_ELIMIT);
	assert_string_equal(e.text, "more than 5 JSON values (limit reached at byte 10)");
	assert_int_equal(e.offset, 10);
	assert_int_equal(at, 14);
	assert_int_equal(parsed, 13); /* up to the last comma it had; the 0 after waits */
}

/* A 32 MiB body of tiny values as a server receives it, 64 KiB at a time:
 * refused at the value limit, in the read where it is crossed, with the
 * words the whole parse gives. */
static void test_stream_tiny_values(void **state)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getinfo\",\"params\":[";
	size_t len = 32u << 20;
	char *text = malloc(len);
	memcpy(text, head, sizeof(head) - 1);
	for (size_t i = sizeof(head) - 1; i + 3 < len; i += 2)
		memcpy(text + i, "0,", 2);
	memcpy(text + len - 3, "0]}", 3);
	struct rumor_json_stream *st = rumor_json_stream_new(NULL);
	struct rumor_json_error e;
	size_t got = 0;
	enum rumor_json_error_kind k = RUMOR_JSON_OK;
	while (k == RUMOR_JSON_OK && got < len) {
		got = got + 65536 < len ? got + 65536 : len;
		k = rumor_json_stream_check(st, text, got, &e);
	}
	assert_int_equal(k, RUMOR_JSON_ELIMIT);
	assert_string_equal(e.text, "more than 100000 JSON values (limit reached at byte 200044)");
	assert_int_equal(got, 4 * 65536); /* the read holding byte 200044 */
	assert_true(rumor_json_stream_parsed(st) <= got);
	rumor_json_stream_del(st);
	struct rumor_json_error whole;
	assert_null(rumor_json_parse_limited(text, len, NULL, &whole));
	assert_string_equal(whole.text, e.text);
	free(text);
}

/* Long strings arrive in many pieces: one of hex (nothing structural in
 * it) is not handed over until it ends; one holding commas is handed over
 * up to its end once it is seen to be long.  Then the values after it
 * are counted as usual. */
static void test_stream_long_strings(void **state)
{
	struct rumor_json_limits lim;
	rumor_json_limits_default(&lim);
	lim.max_values = 20;
	for (int commas = 0; commas < 2; commas++) {
		struct text t = {0};
		puts_text(&t, "[\"");
		for (size_t i = 0; i < (1u << 20); i++)
			putc_text(&t, commas && i % 7 == 3 ? ',' : "0123456789abcdef"[i % 16]);
		puts_text(&t, "\\\"\\\\\"");
		size_t string_end = t.len;
		for (int i = 0; i < 40; i++)
			puts_text(&t, ",0");
		puts_text(&t, "]");
		struct rumor_json_stream *st = rumor_json_stream_new(&lim);
		struct rumor_json_error e;
		size_t got = 0;
		enum rumor_json_error_kind k = RUMOR_JSON_OK;
		while (k == RUMOR_JSON_OK && got < t.len) {
			got = got + 4096 < t.len ? got + 4096 : t.len;
			k = rumor_json_stream_check(st, t.p, got, &e);
			/* with commas: handed over until 64 KiB went without an
			 * event, counted from the end of the first piece (which
			 * had the [), give or take a piece */
			if (got < string_end - 4096)
				assert_true(rumor_json_stream_parsed(st) <=
					    (commas ? 4096u + 65536u + 4096u : 2u));
		}
		assert_int_equal(k, RUMOR_JSON_ELIMIT);
		struct rumor_json_error whole;
		assert_null(rumor_json_parse_limited(t.p, t.len, &lim, &whole));
		assert_string_equal(whole.text, e.text);
		assert_true(whole.offset > string_end && got - whole.offset <= 4096 + 4);
		rumor_json_stream_del(st);
		free(t.p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_key_length),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_big_batch),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_length_bound),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_stream_every_cut),
		cmocka_unit_test(test_stream_random),
		cmocka_unit_test(test_stream_mid_piece),
		cmocka_unit_test(test_stream_tiny_values),
		cmocka_unit_test(test_stream_long_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
