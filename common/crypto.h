/* Virtual-key secrets and identifiers: generation from 256 random bits
 * (libsodium), SHA-256 hashing, display prefixes, random public ids. */
#ifndef GW_CRYPTO_H
#define GW_CRYPTO_H

#include <stddef.h>

#define GW_KEY_PREFIX      "sk-gw-"
#define GW_KEY_SECRET_LEN  49 /* "sk-gw-" + 43 base64url characters */
#define GW_KEY_HASH_LEN    32
#define GW_KEY_DISPLAY_LEN 14 /* characters of the secret kept for display */

/* Must be called once before the others (wraps sodium_init). */
int gw_crypto_init(void);
/* Writes a new secret (NUL-terminated) into out[GW_KEY_SECRET_LEN + 1]. */
void gw_key_generate(char out[GW_KEY_SECRET_LEN + 1]);
void gw_key_hash(const char *secret, size_t len, unsigned char out[GW_KEY_HASH_LEN]);
/* Writes prefix + 2*nbytes random hex characters into out (NUL-terminated);
 * out must hold strlen(prefix) + 2*nbytes + 1 bytes. nbytes is at most 32
 * (larger values are treated as 32). */
void gw_random_id(char *out, const char *prefix, size_t nbytes);
/* n bytes from the system's CSPRNG. */
void gw_random_bytes(void *out, size_t n);
/* A fast non-cryptographic 64-bit random number (splitmix64 per thread,
 * seeded once from the system's CSPRNG): for ids and load spreading, where
 * uniqueness and spread matter, not secrecy. */
unsigned long long gw_fast_random(void);

#endif
