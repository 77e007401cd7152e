/*
 * test/unit/test_auth.c: cookie file, rpcauth entries and the Authorization
 * header check.  The rpcauth vector was computed independently:
 *   HMAC-SHA256(key = "c0ffee", message = "hunter2") =
 *   1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a0627365
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/sign.h"
#include "rpc/auth.h"

#define ALICE "alice:c0ffee$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a0627365"

static char dir[256];
static char path[300];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/rumor-test-auth-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/.cookie", dir);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	char tmp[320];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	rmdir(dir);
	return 0;
}

static char *basic(const char *userpass)
{
	static char header[2048];
	strcpy(header, "Basic ");
	sodium_bin2base64(header + 6, sizeof(header) - 6, (const unsigned char *)userpass,
			  strlen(userpass), sodium_base64_VARIANT_ORIGINAL);
	return header;
}

static void test_cookie_roundtrip(void **state)
{
	struct rumor_auth auth;
	rumor_auth_init(&auth);
	assert_int_equal(rumor_auth_write_cookie(&auth, path), 0);
	assert_int_equal(strlen(auth.cookie_secret), 64);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	char userpass[128];
	assert_int_equal(rumor_auth_read_cookie(path, userpass, sizeof(userpass)), 0);
	assert_int_equal(strncmp(userpass, "__cookie__:", 11), 0);
	assert_string_equal(userpass + 11, auth.cookie_secret);
	for (size_t i = 11; userpass[i]; i++)
		assert_non_null(strchr("0123456789abcdef", userpass[i]));

	assert_int_equal(rumor_auth_check(&auth, basic(userpass)), 1);

	/* a new cookie replaces the old one; the old one stops working */
	char old[128];
	strcpy(old, userpass);
	assert_int_equal(rumor_auth_write_cookie(&auth, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(rumor_auth_read_cookie(path, userpass, sizeof(userpass)), 0);
	assert_string_not_equal(old, userpass);
	assert_int_equal(rumor_auth_check(&auth, basic(old)), 0);
	assert_int_equal(rumor_auth_check(&auth, basic(userpass)), 1);

	/* too small a buffer, missing file */
	assert_int_equal(rumor_auth_read_cookie(path, userpass, 20), -ENOBUFS);
	unlink(path);
	assert_int_equal(rumor_auth_read_cookie(path, userpass, sizeof(userpass)), -ENOENT);
}

static void test_cookie_unwritable(void **state)
{
	struct rumor_auth auth;
	rumor_auth_init(&auth);
	assert_true(rumor_auth_write_cookie(&auth, "/nonexistent-dir/x/.cookie") < 0);
	assert_string_equal(auth.cookie_secret, "");
}

static void test_cookie_malformed(void **state)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("no-colon-here\n", f);
	fclose(f);
	char userpass[128];
	assert_int_equal(rumor_auth_read_cookie(path, userpass, sizeof(userpass)), -EINVAL);
	f = fopen(path, "w");
	fputs("__cookie__:abc\n", f); /* a trailing newline is tolerated */
	fclose(f);
	assert_int_equal(rumor_auth_read_cookie(path, userpass, sizeof(userpass)), 0);
	assert_string_equal(userpass, "__cookie__:abc");
}

static void test_rpcauth_parse(void **state)
{
	struct rumor_auth auth;
	rumor_auth_init(&auth);
	assert_null(rumor_auth_add_rpcauth(&auth, ALICE));
	assert_int_equal(auth.n_entries, 1);
	assert_string_equal(auth.entries[0].user, "alice");
	assert_string_equal(auth.entries[0].salt, "c0ffee");
	assert_int_equal(auth.entries[0].hmac[0], 0x1b);
	/* uppercase hex is fine */
	assert_null(rumor_auth_add_rpcauth(
		&auth, "bob:s$1B62AD810166CFA5F0FCF18767288B9B1161EEAC0EACE82CD8054EA3A0627365"));

	static const char *const bad[] = {
		"",
		"alice",
		":c0ffee$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a0627365",
		"alice:$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a0627365",
		"alice:c0ffee1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a0627365",
		"alice:c0ffee$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a062736",
		"alice:c0ffee$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a06273650",
		"alice:c0ffee$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a062736g",
		"alice:c0ffee$",
		"__cookie__:c0ffee$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a0627365",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:"
		"s$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a0627365",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *reason = rumor_auth_add_rpcauth(&auth, bad[i]);
		if (!reason)
			fail_msg("accepted bad entry %s", bad[i]);
		assert_true(strlen(reason) > 0);
	}
	assert_int_equal(auth.n_entries, 2);
	assert_non_null(rumor_auth_add_rpcauth(&auth, NULL));

	/* the table is bounded */
	while (auth.n_entries < RUMOR_RPCAUTH_MAX)
		assert_null(rumor_auth_add_rpcauth(&auth, ALICE));
	assert_non_null(rumor_auth_add_rpcauth(&auth, ALICE));
}

static void test_check_rpcauth(void **state)
{
	struct rumor_auth auth;
	rumor_auth_init(&auth);
	assert_null(rumor_auth_add_rpcauth(&auth, ALICE));
	assert_int_equal(rumor_auth_check(&auth, "Basic YWxpY2U6aHVudGVyMg=="), 1);
	assert_int_equal(rumor_auth_check(&auth, "basic   YWxpY2U6aHVudGVyMg=="), 1);
	/* wrong password, wrong user, no colon */
	assert_int_equal(rumor_auth_check(&auth, "Basic YWxpY2U6aHVudGVyMw=="), 0);
	assert_int_equal(rumor_auth_check(&auth, "Basic Ym9iOmh1bnRlcjI="), 0);
	assert_int_equal(rumor_auth_check(&auth, "Basic YWxpY2VodW50ZXIy"), 0);
	/* wrong scheme, missing header, bad base64 */
	assert_int_equal(rumor_auth_check(&auth, "Bearer YWxpY2U6aHVudGVyMg=="), 0);
	assert_int_equal(rumor_auth_check(&auth, "BasicYWxpY2U6aHVudGVyMg=="), 0);
	assert_int_equal(rumor_auth_check(&auth, NULL), 0);
	assert_int_equal(rumor_auth_check(&auth, ""), 0);
	assert_int_equal(rumor_auth_check(&auth, "Basic "), 0);
	assert_int_equal(rumor_auth_check(&auth, "Basic YWxpY2U6aHVudGVyMg="), 0);
	assert_int_equal(rumor_auth_check(&auth, "Basic YWxpY2U6aHVudGVyMg"), 0);
	assert_int_equal(rumor_auth_check(&auth, "Basic YWxpY2U6aHVu!GVyMg=="), 0);
	assert_int_equal(rumor_auth_check(&auth, "Basic YWxpY2U6aHVudGVyMg==YQ=="), 0);
	/* overlong credentials */
	char big[4096] = "Basic ";
	memset(big + 6, 'A', 3000);
	big[3006] = '\0';
	assert_int_equal(rumor_auth_check(&auth, big), 0);
	/* no cookie set: the cookie user gets nothing, even with an empty secret */
	assert_int_equal(rumor_auth_check(&auth, basic("__cookie__:")), 0);
	assert_int_equal(rumor_auth_check(NULL, "Basic YWxpY2U6aHVudGVyMg=="), 0);
}

static void test_check_cookie(void **state)
{
	struct rumor_auth auth;
	rumor_auth_init(&auth);
	memcpy(auth.cookie_secret,
	       "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 65);
	assert_int_equal(rumor_auth_check(&auth, basic("__cookie__:00112233445566778899aabbccddeeff"
						       "00112233445566778899aabbccddeeff")),
			 1);
	assert_int_equal(rumor_auth_check(&auth, basic("__cookie__:00112233445566778899aabbccddeeff"
						       "00112233445566778899aabbccddeefe")),
			 0);
	assert_int_equal(rumor_auth_check(&auth, basic("__cookie__:00112233445566778899aabbccddeeff"
						       "00112233445566778899aabbccddeef")),
			 0);
	assert_int_equal(rumor_auth_check(&auth, basic("__cookie__:")), 0);
	assert_int_equal(rumor_auth_check(&auth, basic("alice:hunter2")), 0);
}

int main(void)
{
	if (rumor_crypto_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cookie_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cookie_unwritable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cookie_malformed, setup, teardown),
		cmocka_unit_test(test_rpcauth_parse),
		cmocka_unit_test(test_check_rpcauth),
		cmocka_unit_test(test_check_cookie),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
