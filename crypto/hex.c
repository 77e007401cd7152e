/*
 * crypto/hex.c: lowercase hex encoding and strict decoding (no whitespace,
 * no "0x" prefix, even length only).  Used for ids, keys and items on the
 * command line and in JSON-RPC.
 *
 * Both directions are table-driven: items arrive as hex over JSON-RPC, so
 * decoding is on the ingest path of every item (two table loads and one
 * test per byte, no branches per character class).
 */
#include "crypto/hex.h"

#include <errno.h>

static const char hex_digits[16] = "0123456789abcdef";

/* For each byte: 0x10 | its value when it is a hex digit (0-9, a-f, A-F),
 * 0 for anything else (NUL and bytes >= 0x80 included).  Bit 4 marks a
 * digit, so one AND over a whole string says whether all were digits. */
#define D(c, v) [(unsigned char)(c)] = 0x10 | (v)
static const uint8_t hex_values[256] = {
	D('0', 0),  D('1', 1),  D('2', 2),  D('3', 3),  D('4', 4),  D('5', 5),
	D('6', 6),  D('7', 7),  D('8', 8),  D('9', 9),  D('a', 10), D('b', 11),
	D('c', 12), D('d', 13), D('e', 14), D('f', 15), D('A', 10), D('B', 11),
	D('C', 12), D('D', 13), D('E', 14), D('F', 15),
};
#undef D

void rumor_hex_encode(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

long rumor_hex_decode(const char *hex, size_t hex_len, uint8_t *out)
{
	const unsigned char *in = (const unsigned char *)hex;
	size_t n = hex_len / 2;
	uint8_t all = 0x10;

	if (hex_len % 2 != 0)
		return -EINVAL;
	/* No branch per character: every pair is decoded, and bit 4 of all
	 * survives only if every character was a digit.  On failure out holds
	 * garbage (within its hex_len/2 bytes), as the contract allows. */
	for (size_t i = 0; i < n; i++) {
		uint8_t hi = hex_values[in[2 * i]];
		uint8_t lo = hex_values[in[2 * i + 1]];

		all &= hi & lo;
		out[i] = (uint8_t)((hi << 4) | (lo & 0x0f));
	}
	if (!(all & 0x10))
		return -EINVAL;
	return (long)n;
}
