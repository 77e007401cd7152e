/*
 * crypto/hex.h: lowercase hex encoding and strict decoding.
 */
#ifndef RUMOR_CRYPTO_HEX_H
#define RUMOR_CRYPTO_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*len lowercase hex chars and a NUL to out (cap >= 2*len+1). */
void rumor_hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly hex_len chars (even, [0-9a-fA-F] only) into out, which has
 * room for hex_len/2 bytes.  Returns the byte count, or -EINVAL (out's
 * content is then unspecified). */
long rumor_hex_decode(const char *hex, size_t hex_len, uint8_t *out);

#endif
