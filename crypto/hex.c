/*
 * crypto/hex.c: lowercase hex encoding and strict decoding (no whitespace,
 * no "0x" prefix, even length only).  Used for ids, keys and items on the
 * command line and in JSON-RPC.
 */
#include "crypto/hex.h"

#include <errno.h>

static const char hex_digits[16] = "0123456789abcdef";

void rumor_hex_encode(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/* The value of one hex digit, or -1. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long rumor_hex_decode(const char *hex, size_t hex_len, uint8_t *out)
{
	if (hex_len % 2 != 0)
		return -EINVAL;
	for (size_t i = 0; i < hex_len / 2; i++) {
		int hi = hex_value(hex[2 * i]);
		int lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)((hi << 4) | lo);
	}
	return (long)(hex_len / 2);
}
