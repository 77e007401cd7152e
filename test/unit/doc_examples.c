/* test/unit/doc_examples.c: see doc_examples.h. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/hex.h"
#include "test/unit/doc_examples.h"

static char *protocol_md; /* the whole document, NUL-terminated */

int doc_examples_load(void **state)
{
	const char *srcdir = getenv("RUMOR_SRCDIR");
	char path[4096];
	FILE *f;
	long size;

	(void)state;
	if (srcdir == NULL)
		srcdir = ".";
	snprintf(path, sizeof(path), "%s/doc/protocol.md", srcdir);
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "cannot open %s (set RUMOR_SRCDIR to the source tree)\n", path);
		return -1;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	protocol_md = malloc((size_t)size + 1);
	if (protocol_md == NULL || fread(protocol_md, 1, (size_t)size, f) != (size_t)size) {
		free(protocol_md);
		protocol_md = NULL;
		fclose(f);
		return -1;
	}
	protocol_md[size] = '\0';
	fclose(f);
	return 0;
}

int doc_examples_free(void **state)
{
	(void)state;
	free(protocol_md);
	protocol_md = NULL;
	return 0;
}

/* The hex in the fenced block after "<!-- example: NAME -->", whitespace
 * removed, decoded into a malloc'd buffer. */
uint8_t *doc_example(const char *name, size_t *len)
{
	char marker[128], *hex;
	const char *p, *end;
	size_t n = 0;
	uint8_t *bytes;
	long got;

	snprintf(marker, sizeof(marker), "<!-- example: %s -->", name);
	p = strstr(protocol_md, marker);
	if (p == NULL)
		fail_msg("doc/protocol.md has no %s", marker);
	assert_null(strstr(p + 1, marker)); /* exactly one */
	p = strstr(p, "```");
	assert_non_null(p);
	p = strchr(p, '\n');
	assert_non_null(p);
	end = strstr(p, "```");
	assert_non_null(end);
	hex = malloc((size_t)(end - p) + 1);
	assert_non_null(hex);
	for (; p < end; p++)
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
			hex[n++] = *p;
	bytes = malloc(n / 2 + 1);
	assert_non_null(bytes);
	got = rumor_hex_decode(hex, n, bytes);
	if (got < 0)
		fail_msg("example %s is not hex", name);
	free(hex);
	*len = (size_t)got;
	return bytes;
}
