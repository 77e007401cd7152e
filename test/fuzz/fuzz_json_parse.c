/*
 * test/fuzz/fuzz_json_parse.c: rpc/json_parse.h against jansson itself.
 *
 * For any text: a value from the plain (yajl) parse must be one jansson
 * also reads, and equal to it (json_equal tells an integer from a real);
 * rumor_json_parse must give a value exactly when
 * json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) does, and the same
 * value.  Any disagreement aborts, so libFuzzer keeps the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "rpc/json_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	return 0;
}
