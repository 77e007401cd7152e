/*
 * test/unit/test_noise.c: crypto/noise against the Noise_XX and
 * Noise_XXpsk3 25519/ChaChaPoly/SHA256 vectors (cacophony, copied to
 * test/unit/vectors/), byte for byte, and the failure cases: tampering,
 * wrong psk or prologue, low-order keys, truncation, size limits, wrong
 * state, nonce exhaustion and rekey.
 *
 * The vectors file is found through $RUMOR_SRCDIR (set by make check),
 * falling back to the current directory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "crypto/hex.h"
#include "crypto/noise.h"
#include "crypto/sign.h"

#define VECTORS_PATH "test/unit/vectors/noise-25519-chachapoly.json"
#define BUF_SIZE (RUMOR_NOISE_MAX_MESSAGE + 64)

static json_t *vectors;

/* ---- helpers ---- */

struct vector {
	enum rumor_noise_pattern pattern;
	uint8_t prologue[64];
	size_t prologue_len;
	uint8_t init_static[32], init_ephemeral[32], resp_static[32], resp_ephemeral[32];
	uint8_t init_psk[32], resp_psk[32];
	int has_psk;
	uint8_t handshake_hash[32];
	size_t n_messages;
	struct {
		uint8_t payload[256];
		size_t payload_len;
		uint8_t ciphertext[512];
		size_t ciphertext_len;
	} messages[8];
};

static size_t hex_field(json_t *obj, const char *key, uint8_t *out, size_t cap)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t len;
	long n;

	assert_non_null(v);
	assert_true(json_is_string(v));
	s = json_string_value(v);
	len = strlen(s);
	assert_true(len / 2 <= cap);
	n = rumor_hex_decode(s, len, out);
	assert_true(n >= 0);
	return (size_t)n;
}

static void first_psk(json_t *obj, const char *key, uint8_t out[32])
{
	json_t *arr = json_object_get(obj, key);
	const char *s;

	assert_non_null(arr);
	assert_int_equal(json_array_size(arr), 1);
	s = json_string_value(json_array_get(arr, 0));
	assert_non_null(s);
	assert_int_equal(strlen(s), 64);
	assert_int_equal(rumor_hex_decode(s, 64, out), 32);
}

static void load_vector(const char *protocol_name, struct vector *v)
{
	size_t i, idx;
	json_t *item, *msgs, *m;
	uint8_t resp_prologue[64];

	memset(v, 0, sizeof(*v));
	json_array_foreach(json_object_get(vectors, "vectors"), i, item)
	{
		const char *name = json_string_value(json_object_get(item, "protocol_name"));

		if (name == NULL || strcmp(name, protocol_name) != 0)
			continue;
		v->pattern = strstr(name, "psk3") ? RUMOR_NOISE_XXPSK3 : RUMOR_NOISE_XX;
		v->prologue_len = hex_field(item, "init_prologue", v->prologue, sizeof(v->prologue));
		assert_int_equal(hex_field(item, "resp_prologue", resp_prologue,
					   sizeof(resp_prologue)),
				 v->prologue_len);
		assert_memory_equal(resp_prologue, v->prologue, v->prologue_len);
		assert_int_equal(hex_field(item, "init_static", v->init_static, 32), 32);
		assert_int_equal(hex_field(item, "init_ephemeral", v->init_ephemeral, 32), 32);
		assert_int_equal(hex_field(item, "resp_static", v->resp_static, 32), 32);
		assert_int_equal(hex_field(item, "resp_ephemeral", v->resp_ephemeral, 32), 32);
		assert_int_equal(hex_field(item, "handshake_hash", v->handshake_hash, 32), 32);
		if (v->pattern == RUMOR_NOISE_XXPSK3) {
			first_psk(item, "init_psks", v->init_psk);
			first_psk(item, "resp_psks", v->resp_psk);
			v->has_psk = 1;
		} else {
			assert_null(json_object_get(item, "init_psks"));
		}
		msgs = json_object_get(item, "messages");
		v->n_messages = json_array_size(msgs);
		assert_true(v->n_messages > 3 && v->n_messages <= 8);
		json_array_foreach(msgs, idx, m)
		{
			v->messages[idx].payload_len =
				hex_field(m, "payload", v->messages[idx].payload, 256);
			v->messages[idx].ciphertext_len =
				hex_field(m, "ciphertext", v->messages[idx].ciphertext, 512);
		}
		return;
	}
	fail_msg("vector %s not found", protocol_name);
}

static const uint8_t *psk_or_null(const struct vector *v, const uint8_t *psk)
{
	return v->has_psk ? psk : NULL;
}

static void init_pair(const struct vector *v, struct rumor_noise_handshake *init,
		      struct rumor_noise_handshake *resp)
{
	assert_int_equal(rumor_noise_handshake_init(init, v->pattern, 1, v->prologue,
						    v->prologue_len, v->init_static,
						    psk_or_null(v, v->init_psk)),
			 0);
	assert_int_equal(rumor_noise_handshake_init(resp, v->pattern, 0, v->prologue,
						    v->prologue_len, v->resp_static,
						    psk_or_null(v, v->resp_psk)),
			 0);
	assert_int_equal(rumor_noise_handshake_set_ephemeral(init, v->init_ephemeral), 0);
	assert_int_equal(rumor_noise_handshake_set_ephemeral(resp, v->resp_ephemeral), 0);
}

/* Writes vector message i from its sender; checks the bytes. */
static void write_vector_message(const struct vector *v, struct rumor_noise_handshake *from,
				 size_t i, uint8_t *out, size_t *out_len)
{
	assert_int_equal(rumor_noise_handshake_write(from, v->messages[i].payload,
						     v->messages[i].payload_len, out, BUF_SIZE,
						     out_len),
			 0);
	assert_int_equal(*out_len, v->messages[i].ciphertext_len);
	assert_memory_equal(out, v->messages[i].ciphertext, *out_len);
}

/* Runs the three handshake messages of the vector between init and resp. */
static void run_handshake(const struct vector *v, struct rumor_noise_handshake *init,
			  struct rumor_noise_handshake *resp)
{
	static uint8_t msg[BUF_SIZE], payload[BUF_SIZE];
	size_t msg_len, payload_len;

	for (size_t i = 0; i < 3; i++) {
		struct rumor_noise_handshake *from = (i % 2 == 0) ? init : resp;
		struct rumor_noise_handshake *to = (i % 2 == 0) ? resp : init;

		assert_true(rumor_noise_handshake_want_write(from));
		assert_false(rumor_noise_handshake_want_write(to));
		write_vector_message(v, from, i, msg, &msg_len);
		assert_int_equal(rumor_noise_handshake_read(to, msg, msg_len, payload,
							    sizeof(payload), &payload_len),
				 0);
		assert_int_equal(payload_len, v->messages[i].payload_len);
		assert_memory_equal(payload, v->messages[i].payload, payload_len);
	}
}

/* ---- the vectors ---- */

static void check_vector(const char *protocol_name)
{
	struct vector v;
	struct rumor_noise_handshake init, resp;
	struct rumor_noise_cipher init_send, init_recv, resp_send, resp_recv;
	uint8_t hash[32], msg[512], plain[512];
	size_t len, plain_len;

	load_vector(protocol_name, &v);
	init_pair(&v, &init, &resp);
	assert_null(rumor_noise_handshake_remote_static(&init));
	assert_int_equal(rumor_noise_handshake_hash(&init, hash), -EPROTO);
	run_handshake(&v, &init, &resp);

	assert_true(rumor_noise_handshake_finished(&init));
	assert_true(rumor_noise_handshake_finished(&resp));
	assert_int_equal(rumor_noise_handshake_hash(&init, hash), 0);
	assert_memory_equal(hash, v.handshake_hash, 32);
	assert_int_equal(rumor_noise_handshake_hash(&resp, hash), 0);
	assert_memory_equal(hash, v.handshake_hash, 32);
	assert_memory_equal(rumor_noise_handshake_remote_static(&init),
			    rumor_noise_handshake_local_static(&resp), 32);
	assert_memory_equal(rumor_noise_handshake_remote_static(&resp),
			    rumor_noise_handshake_local_static(&init), 32);

	assert_int_equal(rumor_noise_handshake_split(&init, &init_send, &init_recv), 0);
	assert_int_equal(rumor_noise_handshake_split(&resp, &resp_send, &resp_recv), 0);
	assert_int_equal(rumor_noise_handshake_state(&init), RUMOR_NOISE_STATE_SPLIT);
	assert_int_equal(rumor_noise_handshake_split(&init, &init_send, &init_recv), -EPROTO);
	/* The hash and remote static survive the split. */
	assert_int_equal(rumor_noise_handshake_hash(&init, hash), 0);
	assert_memory_equal(hash, v.handshake_hash, 32);
	assert_non_null(rumor_noise_handshake_remote_static(&init));

	/* Transport messages alternate, continuing from the handshake: message
	 * 3 goes from the responder, 4 from the initiator, ... */
	for (size_t i = 3; i < v.n_messages; i++) {
		struct rumor_noise_cipher *send = (i % 2 == 0) ? &init_send : &resp_send;
		struct rumor_noise_cipher *recv = (i % 2 == 0) ? &resp_recv : &init_recv;

		assert_int_equal(rumor_noise_cipher_encrypt(send, NULL, 0, v.messages[i].payload,
							    v.messages[i].payload_len, msg,
							    sizeof(msg), &len),
				 0);
		assert_int_equal(len, v.messages[i].ciphertext_len);
		assert_memory_equal(msg, v.messages[i].ciphertext, len);
		assert_int_equal(rumor_noise_cipher_decrypt(recv, NULL, 0, msg, len, plain,
							    sizeof(plain), &plain_len),
				 0);
		assert_int_equal(plain_len, v.messages[i].payload_len);
		assert_memory_equal(plain, v.messages[i].payload, plain_len);
	}
	rumor_noise_cipher_free(&init_send);
	rumor_noise_cipher_free(&init_recv);
	rumor_noise_cipher_free(&resp_send);
	rumor_noise_cipher_free(&resp_recv);
	assert_false(rumor_noise_cipher_has_key(&init_send));
	rumor_noise_handshake_free(&init);
	rumor_noise_handshake_free(&resp);
}

static void test_vector_xx(void **state)
{
	check_vector("Noise_XX_25519_ChaChaPoly_SHA256");
}

static void test_vector_xxpsk3(void **state)
{
	check_vector("Noise_XXpsk3_25519_ChaChaPoly_SHA256");
}

/* ---- failures ---- */

static void assert_dead(struct rumor_noise_handshake *hs)
{
	uint8_t buf[128];
	size_t len = 99;

	assert_int_equal(rumor_noise_handshake_state(hs), RUMOR_NOISE_STATE_ERROR);
	assert_true(strlen(rumor_noise_handshake_reason(hs)) > 0);
	assert_false(rumor_noise_handshake_finished(hs));
	assert_int_equal(rumor_noise_handshake_write(hs, NULL, 0, buf, sizeof(buf), &len),
			 -EPROTO);
	assert_int_equal(len, 0);
	assert_int_equal(rumor_noise_handshake_read(hs, buf, 64, buf, sizeof(buf), &len), -EPROTO);
	assert_int_equal(rumor_noise_handshake_hash(hs, buf), -EPROTO);
	assert_null(rumor_noise_handshake_remote_static(hs));
}

/*
 * Every single-bit flip anywhere in a handshake message makes the handshake
 * fail: at once for an authenticated message, and for XX's cleartext first
 * message when the initiator reads message 2 (the hashes differ).
 */
static void check_tamper(const char *protocol_name)
{
	static uint8_t msg[BUF_SIZE], payload[BUF_SIZE], reply[BUF_SIZE];
	struct vector v;
	struct rumor_noise_handshake init, resp;
	size_t len, plen, rlen;

	load_vector(protocol_name, &v);
	for (size_t m = 0; m < 3; m++) {
		for (size_t bit = 0; bit < v.messages[m].ciphertext_len * 8; bit++) {
			struct rumor_noise_handshake *to;
			int rc;

			init_pair(&v, &init, &resp);
			for (size_t i = 0; i < m; i++) {
				struct rumor_noise_handshake *a = (i % 2 == 0) ? &init : &resp;
				struct rumor_noise_handshake *b = (i % 2 == 0) ? &resp : &init;

				write_vector_message(&v, a, i, msg, &len);
				assert_int_equal(rumor_noise_handshake_read(b, msg, len, payload,
									    sizeof(payload), &plen),
						 0);
			}
			write_vector_message(&v, (m % 2 == 0) ? &init : &resp, m, msg, &len);
			to = (m % 2 == 0) ? &resp : &init;
			msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			rc = rumor_noise_handshake_read(to, msg, len, payload, sizeof(payload),
							&plen);
			if (m == 0 && v.pattern == RUMOR_NOISE_XX) {
				/* Unauthenticated; caught by the initiator next. */
				assert_int_equal(rc, 0);
				assert_int_equal(rumor_noise_handshake_write(&resp, NULL, 0, reply,
									     sizeof(reply), &rlen),
						 0);
				rc = rumor_noise_handshake_read(&init, reply, rlen, payload,
								sizeof(payload), &plen);
				to = &init;
			}
			assert_int_equal(rc, -EBADMSG);
			assert_dead(to);
			rumor_noise_handshake_free(&init);
			rumor_noise_handshake_free(&resp);
		}
	}
}

static void test_tamper_xx(void **state)
{
	check_tamper("Noise_XX_25519_ChaChaPoly_SHA256");
}

static void test_tamper_xxpsk3(void **state)
{
	check_tamper("Noise_XXpsk3_25519_ChaChaPoly_SHA256");
}

/* Every strict prefix of each handshake message is refused. */
static void test_truncated(void **state)
{
	static uint8_t msg[BUF_SIZE], payload[BUF_SIZE];
	struct vector v;
	struct rumor_noise_handshake init, resp;
	size_t len, plen;

	load_vector("Noise_XXpsk3_25519_ChaChaPoly_SHA256", &v);
	for (size_t m = 0; m < 3; m++) {
		for (size_t cut = 0; cut < v.messages[m].ciphertext_len; cut++) {
			struct rumor_noise_handshake *to = (m % 2 == 0) ? &resp : &init;

			init_pair(&v, &init, &resp);
			for (size_t i = 0; i <= m; i++) {
				struct rumor_noise_handshake *a = (i % 2 == 0) ? &init : &resp;
				struct rumor_noise_handshake *b = (i % 2 == 0) ? &resp : &init;

				write_vector_message(&v, a, i, msg, &len);
				if (i < m)
					assert_int_equal(rumor_noise_handshake_read(b, msg, len,
										    payload,
										    sizeof(payload),
										    &plen),
							 0);
			}
			assert_int_equal(rumor_noise_handshake_read(to, msg, cut, payload,
								    sizeof(payload), &plen),
					 -EBADMSG);
			assert_dead(to);
		}
	}
}

/* Runs a handshake where the two sides differ; returns the message index
 * (0..2) at which the reader failed, or 3 when it succeeded. */
static size_t handshake_until_failure(struct rumor_noise_handshake *init,
				      struct rumor_noise_handshake *resp)
{
	static uint8_t msg[BUF_SIZE], payload[BUF_SIZE];
	size_t len, plen;

	for (size_t i = 0; i < 3; i++) {
		struct rumor_noise_handshake *a = (i % 2 == 0) ? init : resp;
		struct rumor_noise_handshake *b = (i % 2 == 0) ? resp : init;
		int rc;

		assert_int_equal(rumor_noise_handshake_write(a, (const uint8_t *)"hi", 2, msg,
							     sizeof(msg), &len),
				 0);
		rc = rumor_noise_handshake_read(b, msg, len, payload, sizeof(payload), &plen);
		if (rc != 0) {
			assert_int_equal(rc, -EBADMSG);
			assert_dead(b);
			return i;
		}
	}
	return 3;
}

static void test_wrong_psk(void **state)
{
	struct vector v;
	struct rumor_noise_handshake init, resp;
	uint8_t other_psk[32];

	load_vector("Noise_XXpsk3_25519_ChaChaPoly_SHA256", &v);
	memcpy(other_psk, v.resp_psk, 32);
	other_psk[31] ^= 1;
	init_pair(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_init(&resp, v.pattern, 0, v.prologue,
						    v.prologue_len, v.resp_static, other_psk),
			 0);
	assert_int_equal(rumor_noise_handshake_set_ephemeral(&resp, v.resp_ephemeral), 0);
	/* The psk enters at the end of message 3, so the responder finds out
	 * there. */
	assert_int_equal(handshake_until_failure(&init, &resp), 2);

	/* A psk side against an XX side fails at the first authenticated
	 * message. */
	init_pair(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_init(&resp, RUMOR_NOISE_XX, 0, v.prologue,
						    v.prologue_len, v.resp_static, NULL),
			 0);
	assert_int_equal(rumor_noise_handshake_set_ephemeral(&resp, v.resp_ephemeral), 0);
	assert_int_equal(handshake_until_failure(&init, &resp), 1);
}

static void test_wrong_prologue(void **state)
{
	struct vector v;
	struct rumor_noise_handshake init, resp;

	load_vector("Noise_XX_25519_ChaChaPoly_SHA256", &v);
	init_pair(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_init(&resp, v.pattern, 0,
						    (const uint8_t *)"other net", 9,
						    v.resp_static, NULL),
			 0);
	assert_int_equal(rumor_noise_handshake_set_ephemeral(&resp, v.resp_ephemeral), 0);
	assert_int_equal(handshake_until_failure(&init, &resp), 1);

	/* Same prologue, fresh random keys: succeeds. */
	{
		uint8_t k[4][32];

		for (int i = 0; i < 4; i++)
			rumor_random(k[i], 32);
		assert_int_equal(rumor_noise_handshake_init(&init, RUMOR_NOISE_XX, 1, NULL, 0,
							    k[0], NULL),
				 0);
		assert_int_equal(rumor_noise_handshake_init(&resp, RUMOR_NOISE_XX, 0, NULL, 0,
							    k[1], NULL),
				 0);
		assert_int_equal(rumor_noise_handshake_set_ephemeral(&init, k[2]), 0);
		assert_int_equal(rumor_noise_handshake_set_ephemeral(&resp, k[3]), 0);
		assert_int_equal(handshake_until_failure(&init, &resp), 3);
	}
}

/* A low-order ephemeral (here the all-zero point) gives an all-zero shared
 * secret: refused at the first DH, on either side. */
static void test_low_order_key(void **state)
{
	static uint8_t msg[BUF_SIZE], payload[BUF_SIZE];
	struct vector v;
	struct rumor_noise_handshake init, resp;
	size_t len, plen;

	load_vector("Noise_XX_25519_ChaChaPoly_SHA256", &v);

	/* Responder gets e = 0: its own write of message 2 (ee) fails. */
	init_pair(&v, &init, &resp);
	memset(msg, 0, 32);
	assert_int_equal(rumor_noise_handshake_read(&resp, msg, 32, payload, sizeof(payload),
						    &plen),
			 0);
	assert_int_equal(rumor_noise_handshake_write(&resp, NULL, 0, msg, sizeof(msg), &len),
			 -EBADMSG);
	assert_dead(&resp);

	/* Initiator gets e = 0 in message 2: the read fails at ee. */
	init_pair(&v, &init, &resp);
	write_vector_message(&v, &init, 0, msg, &len);
	memset(msg, 0, 96);
	assert_int_equal(rumor_noise_handshake_read(&init, msg, 96, payload, sizeof(payload),
						    &plen),
			 -EBADMSG);
	assert_dead(&init);
	assert_non_null(strstr(rumor_noise_handshake_reason(&init), "low order"));
}

/* ---- state and argument misuse ---- */

static void test_wrong_state(void **state)
{
	static uint8_t msg[BUF_SIZE], payload[BUF_SIZE];
	struct vector v;
	struct rumor_noise_handshake init, resp;
	struct rumor_noise_cipher a, b;
	size_t len, plen;

	load_vector("Noise_XXpsk3_25519_ChaChaPoly_SHA256", &v);

	/* Initiator reads first. */
	init_pair(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_read(&init, v.messages[1].ciphertext,
						    v.messages[1].ciphertext_len, payload,
						    sizeof(payload), &plen),
			 -EPROTO);
	assert_dead(&init);

	/* Responder writes first. */
	assert_int_equal(rumor_noise_handshake_write(&resp, NULL, 0, msg, sizeof(msg), &len),
			 -EPROTO);
	assert_dead(&resp);

	/* Split, hash before the end; writing twice in a row. */
	init_pair(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_split(&init, &a, &b), -EPROTO);
	write_vector_message(&v, &init, 0, msg, &len);
	assert_int_equal(rumor_noise_handshake_state(&init), RUMOR_NOISE_STATE_READ);
	assert_int_equal(rumor_noise_handshake_set_ephemeral(&init, v.init_ephemeral), -EPROTO);
	assert_int_equal(rumor_noise_handshake_write(&init, NULL, 0, msg, sizeof(msg), &len),
			 -EPROTO);
	assert_dead(&init);

	/* After the end, both write and read are refused. */
	init_pair(&v, &init, &resp);
	run_handshake(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_state(&init), RUMOR_NOISE_STATE_DONE);
	assert_int_equal(rumor_noise_handshake_write(&init, NULL, 0, msg, sizeof(msg), &len),
			 -EPROTO);
	assert_dead(&init);
	assert_int_equal(rumor_noise_handshake_read(&resp, msg, 48, payload, sizeof(payload),
						    &plen),
			 -EPROTO);
	assert_dead(&resp);
}

static void test_bad_arguments(void **state)
{
	static uint8_t msg[BUF_SIZE];
	struct vector v;
	struct rumor_noise_handshake hs;
	struct rumor_noise_cipher cs;
	size_t len;

	load_vector("Noise_XXpsk3_25519_ChaChaPoly_SHA256", &v);
	assert_int_equal(rumor_noise_handshake_init(&hs, RUMOR_NOISE_XX, 1, NULL, 0,
						    v.init_static, v.init_psk),
			 -EINVAL);
	assert_int_equal(rumor_noise_handshake_state(&hs), RUMOR_NOISE_STATE_ERROR);
	assert_int_equal(rumor_noise_handshake_init(&hs, RUMOR_NOISE_XXPSK3, 1, NULL, 0,
						    v.init_static, NULL),
			 -EINVAL);
	assert_int_equal(rumor_noise_handshake_init(&hs, RUMOR_NOISE_XX, 1, NULL, 3,
						    v.init_static, NULL),
			 -EINVAL);
	assert_int_equal(rumor_noise_handshake_init(&hs, (enum rumor_noise_pattern)7, 1, NULL, 0,
						    v.init_static, NULL),
			 -EINVAL);

	/* No ephemeral key set. */
	assert_int_equal(rumor_noise_handshake_init(&hs, RUMOR_NOISE_XX, 1, NULL, 0,
						    v.init_static, NULL),
			 0);
	assert_int_equal(rumor_noise_handshake_write(&hs, NULL, 0, msg, sizeof(msg), &len),
			 -EINVAL);
	assert_dead(&hs);

	/* A cipher without a key never passes plaintext through. */
	rumor_noise_cipher_init(&cs, NULL);
	assert_int_equal(rumor_noise_cipher_encrypt(&cs, NULL, 0, msg, 4, msg + 100, 100, &len),
			 -EINVAL);
	assert_int_equal(rumor_noise_cipher_decrypt(&cs, NULL, 0, msg, 20, msg + 100, 100, &len),
			 -EINVAL);
	assert_int_equal(rumor_noise_cipher_rekey(&cs), -EINVAL);
}

/* ---- sizes ---- */

static void test_size_limits(void **state)
{
	static uint8_t big[BUF_SIZE + 16], msg[BUF_SIZE + 16], payload[BUF_SIZE];
	struct vector v;
	struct rumor_noise_handshake init, resp;
	struct rumor_noise_cipher cs;
	size_t len, plen;
	uint8_t key[32] = { 1 };

	load_vector("Noise_XX_25519_ChaChaPoly_SHA256", &v);
	memset(big, 0x5a, sizeof(big));

	/* XX message 1 is e (32) and a cleartext payload: 65503 fits. */
	init_pair(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_write(&init, big, 65535 - 32 + 1, msg, sizeof(msg),
						     &len),
			 -EMSGSIZE);
	assert_dead(&init);
	init_pair(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_write(&init, big, SIZE_MAX, msg, sizeof(msg), &len),
			 -EMSGSIZE);
	init_pair(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_write(&init, big, 65535 - 32, msg, 65535 - 1, &len),
			 -ENOBUFS);
	assert_dead(&init);
	init_pair(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_write(&init, big, 65535 - 32, msg, sizeof(msg), &len),
			 0);
	assert_int_equal(len, 65535);
	/* Reader's payload buffer one byte short. */
	assert_int_equal(rumor_noise_handshake_read(&resp, msg, len, payload, 65535 - 32 - 1,
						    &plen),
			 -ENOBUFS);
	assert_dead(&resp);

	/* Reader refuses anything over 65535 bytes. */
	init_pair(&v, &init, &resp);
	assert_int_equal(rumor_noise_handshake_read(&resp, big, 65536, payload, sizeof(payload),
						    &plen),
			 -EMSGSIZE);
	assert_dead(&resp);

	/* Message 2 payload limit: 65535 - e - s - tag - tag. */
	init_pair(&v, &init, &resp);
	write_vector_message(&v, &init, 0, msg, &len);
	assert_int_equal(rumor_noise_handshake_read(&resp, msg, len, payload, sizeof(payload),
						    &plen),
			 0);
	assert_int_equal(rumor_noise_handshake_write(&resp, big, 65535 - 96 + 1, msg, sizeof(msg),
						     &len),
			 -EMSGSIZE);

	/* Transport. */
	rumor_noise_cipher_init(&cs, key);
	assert_int_equal(rumor_noise_cipher_encrypt(&cs, NULL, 0, big, RUMOR_NOISE_MAX_PLAINTEXT + 1,
						    msg, sizeof(msg), &len),
			 -EMSGSIZE);
	assert_int_equal(rumor_noise_cipher_encrypt(&cs, NULL, 0, big, 100, msg, 115, &len),
			 -ENOBUFS);
	assert_int_equal(cs.n, 0);
	assert_int_equal(rumor_noise_cipher_encrypt(&cs, NULL, 0, big, RUMOR_NOISE_MAX_PLAINTEXT,
						    msg, sizeof(msg), &len),
			 0);
	assert_int_equal(len, RUMOR_NOISE_MAX_MESSAGE);
	assert_int_equal(cs.n, 1);
	rumor_noise_cipher_init(&cs, key);
	assert_int_equal(rumor_noise_cipher_decrypt(&cs, NULL, 0, msg, len, payload,
						    len - 17, &plen),
			 -ENOBUFS);
	assert_int_equal(rumor_noise_cipher_decrypt(&cs, NULL, 0, msg, len, payload,
						    sizeof(payload), &plen),
			 0);
	assert_int_equal(plen, RUMOR_NOISE_MAX_PLAINTEXT);
	assert_memory_equal(payload, big, plen);
	assert_int_equal(rumor_noise_cipher_decrypt(&cs, NULL, 0, big, 65536, payload,
						    sizeof(payload), &plen),
			 -EMSGSIZE);
	assert_int_equal(rumor_noise_cipher_decrypt(&cs, NULL, 0, big, 15, payload,
						    sizeof(payload), &plen),
			 -EBADMSG);
	/* Empty plaintext: just a tag. */
	assert_int_equal(rumor_noise_cipher_encrypt(&cs, NULL, 0, NULL, 0, msg, 16, &len), 0);
	assert_int_equal(len, 16);
}

/* ---- nonces and rekey ---- */

static void test_nonce_and_ad(void **state)
{
	struct rumor_noise_cipher a, b;
	uint8_t key[32], ct[64], pt[64];
	size_t len, plen;

	rumor_random(key, sizeof(key));
	rumor_noise_cipher_init(&a, key);
	rumor_noise_cipher_init(&b, key);

	/* Associated data is authenticated. */
	assert_int_equal(rumor_noise_cipher_encrypt(&a, (const uint8_t *)"ad", 2,
						    (const uint8_t *)"hello", 5, ct, sizeof(ct),
						    &len),
			 0);
	assert_int_equal(rumor_noise_cipher_decrypt(&b, (const uint8_t *)"xx", 2, ct, len, pt,
						    sizeof(pt), &plen),
			 -EBADMSG);
	assert_int_equal(b.n, 0); /* a failed decrypt does not advance */
	assert_int_equal(rumor_noise_cipher_decrypt(&b, (const uint8_t *)"ad", 2, ct, len, pt,
						    sizeof(pt), &plen),
			 0);
	assert_int_equal(b.n, 1);
	/* A replayed message (same ciphertext, next nonce) fails. */
	assert_int_equal(rumor_noise_cipher_decrypt(&b, (const uint8_t *)"ad", 2, ct, len, pt,
						    sizeof(pt), &plen),
			 -EBADMSG);

	/* 2^64-2 is the last usable nonce; 2^64-1 is refused both ways. */
	rumor_noise_cipher_set_nonce(&a, UINT64_MAX - 1);
	rumor_noise_cipher_set_nonce(&b, UINT64_MAX - 1);
	assert_int_equal(rumor_noise_cipher_encrypt(&a, NULL, 0, (const uint8_t *)"x", 1, ct,
						    sizeof(ct), &len),
			 0);
	assert_int_equal(rumor_noise_cipher_decrypt(&b, NULL, 0, ct, len, pt, sizeof(pt), &plen),
			 0);
	assert_int_equal(a.n, UINT64_MAX);
	assert_int_equal(rumor_noise_cipher_encrypt(&a, NULL, 0, (const uint8_t *)"x", 1, ct,
						    sizeof(ct), &len),
			 -EOVERFLOW);
	assert_int_equal(len, 0);
	assert_int_equal(rumor_noise_cipher_decrypt(&b, NULL, 0, ct, 17, pt, sizeof(pt), &plen),
			 -EOVERFLOW);
}

static void test_rekey(void **state)
{
	struct rumor_noise_cipher a, b, a_old;
	uint8_t key[32], ct[64], ct_old[64], pt[64], expect[48], nonce[12];
	unsigned long long elen;
	static const uint8_t zeros[32];
	size_t len, plen;

	rumor_random(key, sizeof(key));
	rumor_noise_cipher_init(&a, key);
	rumor_noise_cipher_init(&b, key);
	rumor_noise_cipher_set_nonce(&a, 5);
	rumor_noise_cipher_set_nonce(&b, 5);
	a_old = a;

	/* REKEY(k) = first 32 bytes of ENCRYPT(k, 2^64-1, empty, zeros),
	 * computed here directly: nonce = 4 zero bytes || LE64(2^64-1). */
	memset(nonce, 0, 4);
	memset(nonce + 4, 0xff, 8);
	crypto_aead_chacha20poly1305_ietf_encrypt(expect, &elen, zeros, 32, NULL, 0, NULL, nonce,
						  key);
	assert_int_equal(rumor_noise_cipher_rekey(&a), 0);
	assert_memory_equal(a.k, expect, 32);
	assert_int_equal(a.n, 5); /* the nonce is left alone */

	assert_int_equal(rumor_noise_cipher_encrypt(&a, NULL, 0, (const uint8_t *)"after", 5, ct,
						    sizeof(ct), &len),
			 0);
	assert_int_equal(rumor_noise_cipher_encrypt(&a_old, NULL, 0, (const uint8_t *)"after", 5,
						    ct_old, sizeof(ct_old), &len),
			 0);
	assert_memory_not_equal(ct, ct_old, len);
	/* The receiver has not rekeyed yet: refused, nonce kept; then it does. */
	assert_int_equal(rumor_noise_cipher_decrypt(&b, NULL, 0, ct, len, pt, sizeof(pt), &plen),
			 -EBADMSG);
	assert_int_equal(rumor_noise_cipher_rekey(&b), 0);
	assert_int_equal(rumor_noise_cipher_decrypt(&b, NULL, 0, ct, len, pt, sizeof(pt), &plen),
			 0);
	assert_int_equal(plen, 5);
	assert_memory_equal(pt, "after", 5);
	rumor_noise_cipher_free(&a);
	rumor_noise_cipher_free(&a_old);
	rumor_noise_cipher_free(&b);
}

/* ---- setup ---- */

static int load_vectors(void **state)
{
	const char *srcdir = getenv("RUMOR_SRCDIR");
	char path[4096];
	json_error_t err;

	if (rumor_crypto_init() != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", srcdir != NULL ? srcdir : ".", VECTORS_PATH);
	vectors = json_load_file(path, 0, &err);
	if (vectors == NULL) {
		fprintf(stderr, "cannot load %s: %s (line %d)\n", path, err.text, err.line);
		return -1;
	}
	return 0;
}

static int free_vectors(void **state)
{
	json_decref(vectors);
	vectors = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_xx),
		cmocka_unit_test(test_vector_xxpsk3),
		cmocka_unit_test(test_tamper_xx),
		cmocka_unit_test(test_tamper_xxpsk3),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_wrong_psk),
		cmocka_unit_test(test_wrong_prologue),
		cmocka_unit_test(test_low_order_key),
		cmocka_unit_test(test_wrong_state),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_nonce_and_ad),
		cmocka_unit_test(test_rekey),
	};

	return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
