/*
 * test_sha256.c - SHA-256 known answers (FIPS 180-2, appendix B): "abc",
 * the 448-bit two-block message, one million 'a'; and the empty message.
 */
#include <stdlib.h>

#include "unit.h"
#include "kvarbiter.h"

static void t_sha256_kat(void)
{
	char hex[65];
	char *m;

	kva_sha256_hex("abc", 3, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	kva_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	kva_sha256_hex("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK((m = malloc(1000000)) != NULL);
	memset(m, 'a', 1000000);
	kva_sha256_hex(m, 1000000, hex);
	free(m);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

const unit_test suite_sha256[] = {
	{ "sha256_kat", t_sha256_kat },
	{ NULL, NULL }
};
