/*
 * test/unit/test_crypto.c: SHA-256, HMAC-SHA256, hex, Ed25519 and key files
 * (crypto/hash.c, crypto/hex.c, crypto/sign.c) against published vectors:
 * FIPS 180-2 (SHA-256), RFC 4231 (HMAC-SHA256), RFC 8032 section 7.1
 * (Ed25519).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/hash.h"
#include "crypto/hex.h"
#include "crypto/sign.h"

/* Decodes a hex literal into out (which must have room) and returns the
 * byte count; fails the test on bad hex. */
static size_t unhex(const char *hex, uint8_t *out)
{
	long n = rumor_hex_decode(hex, strlen(hex), out);

	assert_true(n >= 0);
	return (size_t)n;
}

static void assert_hex_equal(const uint8_t *bytes, size_t len, const char *expected)
{
	char *hex = malloc(2 * len + 1);

	assert_non_null(hex);
	rumor_hex_encode(bytes, len, hex);
	assert_string_equal(hex, expected);
	free(hex);
}

/* ---- SHA-256 (FIPS 180-2 examples) ---- */

static void test_sha256_vectors(void **state)
{
	uint8_t out[RUMOR_SHA256_SIZE];

	rumor_sha256("abc", 3, out);
	assert_hex_equal(out, sizeof(out),
			 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	rumor_sha256("", 0, out);
	assert_hex_equal(out, sizeof(out),
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha256_parts(void **state)
{
	const void *parts[4] = { "a", "", "b", "c" };
	size_t lens[4] = { 1, 0, 1, 1 };
	uint8_t out[RUMOR_SHA256_SIZE];

	rumor_sha256_parts(parts, lens, 4, out);
	assert_hex_equal(out, sizeof(out),
			 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	rumor_sha256_parts(NULL, NULL, 0, out);
	assert_hex_equal(out, sizeof(out),
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- HMAC-SHA256 (RFC 4231 test cases 1 and 2) ---- */

static void test_hmac_rfc4231(void **state)
{
	uint8_t key1[20], out[RUMOR_SHA256_SIZE];
	const char *data2 = "what do ya want for nothing?";

	memset(key1, 0x0b, sizeof(key1));
	rumor_hmac_sha256(key1, sizeof(key1), "Hi There", 8, out);
	assert_hex_equal(out, sizeof(out),
			 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	rumor_hmac_sha256("Jefe", 4, data2, strlen(data2), out);
	assert_hex_equal(out, sizeof(out),
			 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_memeq_ct(void **state)
{
	uint8_t a[32], b[32];

	memset(a, 7, sizeof(a));
	memset(b, 7, sizeof(b));
	assert_int_equal(rumor_memeq_ct(a, b, sizeof(a)), 1);
	b[31] ^= 1;
	assert_int_equal(rumor_memeq_ct(a, b, sizeof(a)), 0);
	assert_int_equal(rumor_memeq_ct(a, b, 31), 1);
	assert_int_equal(rumor_memeq_ct(a, b, 0), 1);
}

/* ---- Hex ---- */

static void test_hex_roundtrip(void **state)
{
	const uint8_t bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	uint8_t back[sizeof(bytes)];
	char hex[2 * sizeof(bytes) + 1];

	rumor_hex_encode(bytes, sizeof(bytes), hex);
	assert_string_equal(hex, "00017f80abff");
	assert_int_equal(rumor_hex_decode(hex, strlen(hex), back), sizeof(bytes));
	assert_memory_equal(back, bytes, sizeof(bytes));
	/* Upper case is accepted on input. */
	assert_int_equal(rumor_hex_decode("00017F80ABFF", 12, back), sizeof(bytes));
	assert_memory_equal(back, bytes, sizeof(bytes));
	/* Empty is valid and encodes to the empty string. */
	rumor_hex_encode(bytes, 0, hex);
	assert_string_equal(hex, "");
	assert_int_equal(rumor_hex_decode("", 0, back), 0);
}

static void test_hex_rejects(void **state)
{
	uint8_t out[8];

	assert_int_equal(rumor_hex_decode("abc", 3, out), -EINVAL);   /* odd length */
	assert_int_equal(rumor_hex_decode("0g", 2, out), -EINVAL);    /* not hex */
	assert_int_equal(rumor_hex_decode("g0", 2, out), -EINVAL);
	assert_int_equal(rumor_hex_decode(" 0", 2, out), -EINVAL);    /* whitespace */
	assert_int_equal(rumor_hex_decode("0x12", 4, out), -EINVAL);  /* prefix */
	assert_int_equal(rumor_hex_decode("12\n4", 4, out), -EINVAL);
	/* Only hex_len chars are read: a NUL after them does not matter. */
	assert_int_equal(rumor_hex_decode("12zz", 2, out), 1);
	assert_int_equal(out[0], 0x12);
}

/* Every pair of byte values, against a reference written out by cases:
 * accepted exactly when both are hex digits, with the right value. */
static int ref_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void test_hex_every_pair(void **state)
{
	(void)state;
	for (int a = 0; a < 256; a++) {
		for (int b = 0; b < 256; b++) {
			char in[2] = { (char)a, (char)b };
			uint8_t out = 0;
			long n = rumor_hex_decode(in, 2, &out);

			if (ref_digit(a) < 0 || ref_digit(b) < 0) {
				assert_int_equal(n, -EINVAL);
			} else {
				assert_int_equal(n, 1);
				assert_int_equal(out, ref_digit(a) * 16 + ref_digit(b));
			}
		}
	}
}

/* One bad character anywhere in a long string fails the whole decode, and
 * the encoder's output decodes back for every byte value. */
static void test_hex_long(void **state)
{
	uint8_t bytes[1000], back[1000];
	char hex[2 * sizeof(bytes) + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 7 + 3);
	rumor_hex_encode(bytes, sizeof(bytes), hex);
	assert_int_equal(rumor_hex_decode(hex, 2 * sizeof(bytes), back), sizeof(bytes));
	assert_memory_equal(back, bytes, sizeof(bytes));
	for (size_t pos = 0; pos < 2 * sizeof(bytes); pos += 333) {
		char saved = hex[pos];

		hex[pos] = 'g';
		assert_int_equal(rumor_hex_decode(hex, 2 * sizeof(bytes), back), -EINVAL);
		hex[pos] = (char)0xb0; /* '0' | 0x80 */
		assert_int_equal(rumor_hex_decode(hex, 2 * sizeof(bytes), back), -EINVAL);
		hex[pos] = saved;
	}
	hex[2 * sizeof(bytes) - 1] = '\0';
	assert_int_equal(rumor_hex_decode(hex, 2 * sizeof(bytes), back), -EINVAL);
}

/* ---- Ed25519 (RFC 8032 section 7.1) ---- */

struct ed25519_vector {
	const char *name;
	const char *seed;
	const char *pubkey;
	const char *message;
	const char *signature;
};

static const struct ed25519_vector rfc8032_vectors[] = {
	{ "TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
	  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
	  "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
	{ "TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
	  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
	  "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	{ "TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
	  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
	  "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
	{ "TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
	  "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
	  "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	  "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
	  "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ec"
	  "fdfbc7c66431e0303dca179c138ac17ad9bef1177331a704" },
};

static void test_ed25519_rfc8032(void **state)
{
	for (size_t i = 0; i < sizeof(rfc8032_vectors) / sizeof(rfc8032_vectors[0]); i++) {
		const struct ed25519_vector *v = &rfc8032_vectors[i];
		uint8_t seed[32], pubkey[32], secret[RUMOR_SECRET_SIZE], sig[64], msg[64];
		size_t msg_len;

		print_message("RFC 8032 %s\n", v->name);
		assert_int_equal(unhex(v->seed, seed), 32);
		msg_len = unhex(v->message, msg);
		rumor_sign_keypair_from_seed(seed, pubkey, secret);
		assert_hex_equal(pubkey, 32, v->pubkey);
		/* libsodium layout: seed || public key. */
		assert_memory_equal(secret, seed, 32);
		assert_memory_equal(secret + 32, pubkey, 32);
		rumor_sign(secret, msg, msg_len, sig);
		assert_hex_equal(sig, 64, v->signature);
		assert_int_equal(rumor_sign_verify(pubkey, msg, msg_len, sig), 0);
	}
}

static void test_ed25519_rejects(void **state)
{
	const struct ed25519_vector *v = &rfc8032_vectors[2]; /* TEST 3 */
	uint8_t seed[32], pubkey[32], secret[RUMOR_SECRET_SIZE], sig[64], msg[2], bad[64];

	unhex(v->seed, seed);
	unhex(v->message, msg);
	rumor_sign_keypair_from_seed(seed, pubkey, secret);
	unhex(v->signature, sig);
	assert_int_equal(rumor_sign_verify(pubkey, msg, sizeof(msg), sig), 0);
	/* Every single flipped bit of the signature is rejected. */
	for (size_t bit = 0; bit < 64 * 8; bit++) {
		memcpy(bad, sig, sizeof(bad));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(rumor_sign_verify(pubkey, msg, sizeof(msg), bad), -1);
	}
	/* A flipped bit in the message or the key is rejected too. */
	msg[0] ^= 0x01;
	assert_int_equal(rumor_sign_verify(pubkey, msg, sizeof(msg), sig), -1);
	msg[0] ^= 0x01;
	pubkey[0] ^= 0x01;
	assert_int_equal(rumor_sign_verify(pubkey, msg, sizeof(msg), sig), -1);
	/* Wrong length. */
	pubkey[0] ^= 0x01;
	assert_int_equal(rumor_sign_verify(pubkey, msg, 1, sig), -1);
	/* The all-zero key (small order) never verifies. */
	memset(pubkey, 0, sizeof(pubkey));
	memset(bad, 0, sizeof(bad));
	assert_int_equal(rumor_sign_verify(pubkey, msg, sizeof(msg), bad), -1);
}

static void test_random_keypair(void **state)
{
	uint8_t pk1[32], sk1[64], pk2[32], sk2[64], pk3[32], sk3[64], sig[64];
	uint8_t r1[32], r2[32];

	rumor_sign_keypair_random(pk1, sk1);
	rumor_sign_keypair_random(pk2, sk2);
	assert_memory_not_equal(pk1, pk2, 32);
	/* The secret's seed half rebuilds the same key pair. */
	rumor_sign_keypair_from_seed(sk1, pk3, sk3);
	assert_memory_equal(pk1, pk3, 32);
	assert_memory_equal(sk1, sk3, 64);
	rumor_sign(sk1, (const uint8_t *)"x", 1, sig);
	assert_int_equal(rumor_sign_verify(pk1, (const uint8_t *)"x", 1, sig), 0);
	assert_int_equal(rumor_sign_verify(pk2, (const uint8_t *)"x", 1, sig), -1);
	rumor_random(r1, sizeof(r1));
	rumor_random(r2, sizeof(r2));
	assert_memory_not_equal(r1, r2, sizeof(r1));
}

/* ---- Key files ---- */

static char tmpdir[64];

static int setup_tmpdir(void **state)
{
	strcpy(tmpdir, "/tmp/rumor-test-crypto-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown_tmpdir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_keyfile_roundtrip(void **state)
{
	uint8_t seed[32], back[32];
	char path[128], text[80];
	struct stat st;
	FILE *f;

	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(0xa0 + i);
	snprintf(path, sizeof(path), "%s/node.key", tmpdir);
	assert_int_equal(rumor_keyfile_write(path, seed, 1), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 65);
	/* The exact format: lowercase hex and a newline. */
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_string_equal(text,
			    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n");
	assert_int_equal(rumor_keyfile_read(path, back), 0);
	assert_memory_equal(back, seed, 32);

	/* create_new refuses an existing file and leaves it alone. */
	memset(back, 0x55, sizeof(back));
	assert_int_equal(rumor_keyfile_write(path, back, 1), -EEXIST);
	assert_int_equal(rumor_keyfile_read(path, back), 0);
	assert_memory_equal(back, seed, 32);

	/* Overwriting (create_new = 0) forces mode 0600 on a looser file. */
	assert_int_equal(chmod(path, 0644), 0);
	seed[0] = 0x00;
	assert_int_equal(rumor_keyfile_write(path, seed, 0), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(rumor_keyfile_read(path, back), 0);
	assert_memory_equal(back, seed, 32);

	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	assert_int_equal(rumor_keyfile_read(path, back), -ENOENT);
	snprintf(path, sizeof(path), "%s/no/such/dir", tmpdir);
	assert_int_equal(rumor_keyfile_write(path, seed, 1), -ENOENT);
}

static void test_keyfile_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		/* no newline */
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
		/* upper case */
		"A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF\n",
		/* too short */
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbe\n",
		/* trailing data */
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n\n",
		/* not hex */
		"g0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n",
		/* CRLF */
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\r\n",
	};
	char path[128];
	uint8_t seed[32];

	snprintf(path, sizeof(path), "%s/bad.key", tmpdir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("malformed key file %zu\n", i);
		write_text(path, bad[i]);
		assert_int_equal(rumor_keyfile_read(path, seed), -EINVAL);
	}
	/* A directory is not a key file either. */
	assert_true(rumor_keyfile_read(tmpdir, seed) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_parts),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_memeq_ct),
		cmocka_unit_test(test_hex_roundtrip),
		cmocka_unit_test(test_hex_rejects),
		cmocka_unit_test(test_hex_every_pair),
		cmocka_unit_test(test_hex_long),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_ed25519_rejects),
		cmocka_unit_test(test_random_keypair),
		cmocka_unit_test(test_keyfile_roundtrip),
		cmocka_unit_test(test_keyfile_malformed),
	};

	if (rumor_crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
