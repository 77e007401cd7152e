/*
 * test/unit/doc_examples.h: the worked examples of doc/protocol.md, for
 * unit tests that check the document byte for byte.
 *
 * An example is the fenced block after a line "<!-- example: NAME -->";
 * its hex, whitespace removed, is the example's bytes.  The document is
 * found as $RUMOR_SRCDIR/doc/protocol.md (make check sets RUMOR_SRCDIR).
 */
#ifndef RUMOR_TEST_DOC_EXAMPLES_H
#define RUMOR_TEST_DOC_EXAMPLES_H

#include <stddef.h>
#include <stdint.h>

/* cmocka group/test setup and teardown: load and free the document. */
int doc_examples_load(void **state);
int doc_examples_free(void **state);
/* The example's bytes (malloc'd; caller frees).  Fails the test when the
 * marker is missing, appears twice, or the block is not hex. */
uint8_t *doc_example(const char *name, size_t *len);

#endif
