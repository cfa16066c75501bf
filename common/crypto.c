/* Secrets and ids. A key secret is 256 random bits in base64url after the
 * "sk-gw-" marker; only its SHA-256 is stored. A plain hash is the right tool
 * for a 256-bit random secret: there is nothing to brute-force. */
#include "crypto.h"

#include <sodium.h>
#include <string.h>

int gw_crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void gw_key_generate(char out[GW_KEY_SECRET_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    size_t plen = strlen(GW_KEY_PREFIX);
    memcpy(out, GW_KEY_PREFIX, plen);
    sodium_bin2base64(out + plen, GW_KEY_SECRET_LEN + 1 - plen, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

void gw_key_hash(const char *secret, size_t len, unsigned char out[GW_KEY_HASH_LEN])
{
    crypto_hash_sha256(out, (const unsigned char *)secret, len);
}

void gw_random_id(char *out, const char *prefix, size_t nbytes)
{
    unsigned char raw[32];
    if (nbytes > sizeof raw)
        nbytes = sizeof raw;
    randombytes_buf(raw, nbytes);
    size_t plen = strlen(prefix);
    memcpy(out, prefix, plen);
    sodium_bin2hex(out + plen, nbytes * 2 + 1, raw, nbytes);
}

void gw_random_bytes(void *out, size_t n)
{
    randombytes_buf(out, n);
}

unsigned long long gw_fast_random(void)
{
    static _Thread_local unsigned long long state;
    if (!state)
        gw_random_bytes(&state, sizeof state);
    unsigned long long z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
