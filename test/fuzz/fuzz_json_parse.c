/*
 * test/fuzz/fuzz_json_parse.c: rpc/json_parse.h against jansson itself.
 *
 * For any text: a value from the plain (yajl) parse must be one jansson
 * also reads, and equal to it (json_equal tells an integer from a real);
 * rumor_json_parse must give a value exactly when
 * json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) does, and the same
 * value.  Any disagreement aborts, so libFuzzer keeps the input.
 *
 * The limits while the text arrives (rumor_json_stream_check): fed a
 * byte at a time, in pieces of 13 bytes and cut once in the middle, with
 * small limits and the defaults, a refusal must be the one
 * rumor_json_parse_limited gives for the whole text (kind, byte, words),
 * and final; a text ending in ] or } that the whole parse refuses for a
 * limit must be refused by the stream once all of it has come.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/json_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void stream_agrees(const char *text, size_t size, size_t piece, size_t first,
			  const struct rumor_json_limits *lim, const struct rumor_json_error *whole)
{
	struct rumor_json_stream *st = rumor_json_stream_new(lim);
	if (!st)
		abort();
	struct rumor_json_error e;
	enum rumor_json_error_kind k = RUMOR_JSON_OK;
	size_t got = 0;
	while (k == RUMOR_JSON_OK && got < size) {
		got = got == 0 && first ? first : got + piece;
		if (got > size)
			got = size;
		k = rumor_json_stream_check(st, text, got, &e);
	}
	if (k != RUMOR_JSON_OK) {
		if (k != whole->kind || e.offset != whole->offset || strcmp(e.text, whole->text))
			abort(); /* refused other than the whole parse */
		if (e.offset > rumor_json_stream_parsed(st) || rumor_json_stream_parsed(st) > got)
			abort();
		struct rumor_json_error again;
		if (rumor_json_stream_check(st, text, got, &again) != k || strcmp(again.text, e.text))
			abort(); /* not final */
	} else if ((whole->kind == RUMOR_JSON_ELIMIT || whole->kind == RUMOR_JSON_EROOT_ITEMS) &&
		   size > 0 && (text[size - 1] == ']' || text[size - 1] == '}')) {
		abort(); /* let a text past a limit through */
	}
	rumor_json_stream_del(st);
}

static void stream_check(const char *text, size_t size)
{
	struct rumor_json_limits lims[2];
	rumor_json_limits_default(&lims[0]);
	lims[0].max_values = 6;
	lims[0].max_depth = 3;
	lims[0].max_key_bytes = 4;
	lims[0].max_string_bytes = 8;
	lims[0].max_root_items = 3;
	rumor_json_limits_default(&lims[1]);
	for (int i = 0; i < 2; i++) {
		struct rumor_json_error whole;
		json_decref(rumor_json_parse_limited(text, size, &lims[i], &whole));
		stream_agrees(text, size, 1, 0, &lims[i], &whole);
		stream_agrees(text, size, 13, 0, &lims[i], &whole);
		stream_agrees(text, size, size, size / 2, &lims[i], &whole);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	json_error_t error;
	json_t *ref = json_loadb(text, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &error);
	json_t *plain = rumor_json_parse_plain(text, size);
	json_t *got = rumor_json_parse(text, size, &error);

	if (plain && (!ref || !json_equal(plain, ref)))
		abort(); /* the fast path changed or invented a value */
	if (!got != !ref)
		abort(); /* accepts or rejects what jansson does not */
	if (got && !json_equal(got, ref))
		abort();

	json_decref(ref);
	json_decref(plain);
	json_decref(got);
	stream_check(text, size);
	return 0;
}
