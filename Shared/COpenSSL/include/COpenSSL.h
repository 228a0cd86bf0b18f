/* The OpenSSL edge: TLS 1.3 sessions over memory BIOs, certificate issuing for development
 * and tests, and SM3. Only MedicareTransport imports this; no OpenSSL type leaves it. */
#ifndef COPENSSL_H
#define COPENSSL_H

#include <stddef.h>

typedef struct ssl_ctx_st mc_tls_context;
typedef struct ssl_st mc_tls;

/* Pops OpenSSL's error queue for this thread into `buf` as "lib:reason; ..." */
size_t mc_tls_errors(char *buf, size_t cap);
void mc_tls_clear_errors(void);

/* A TLS 1.3-only context with mutual authentication: the server requires a client
 * certificate; both sides verify the peer's chain against `ca_file`. NULL on failure, with
 * the reason in `err`. */
mc_tls_context *mc_tls_context_new(int is_server, const char *cert_file, const char *key_file,
                                   const char *ca_file, char *err, size_t errlen);
void mc_tls_context_free(mc_tls_context *ctx);

/* A session over two memory BIOs. A client verifies `host` (DNS name or IP address) against
 * the server's certificate and sends it as SNI when it is a name. */
mc_tls *mc_tls_new(mc_tls_context *ctx, int is_server, const char *host);
void mc_tls_free(mc_tls *tls);

enum { MC_TLS_OK = 0, MC_TLS_WANT_READ = 1, MC_TLS_CLOSED = 2, MC_TLS_ERROR = 3 };

/* Drives the handshake: MC_TLS_OK when done, MC_TLS_WANT_READ for more input, else error. */
int mc_tls_handshake(mc_tls *tls);
/* Ciphertext from the network. Returns bytes taken (all of them) or -1. */
int mc_tls_feed(mc_tls *tls, const void *data, int len);
/* Ciphertext waiting to go to the network, and taking it. */
size_t mc_tls_pending_output(mc_tls *tls);
int mc_tls_take_output(mc_tls *tls, void *buf, int cap);
/* Plaintext out: bytes read (> 0) with *status MC_TLS_OK, or 0 with *status saying why. */
int mc_tls_read(mc_tls *tls, void *buf, int cap, int *status);
/* Plaintext in: MC_TLS_OK when all `len` bytes were taken. */
int mc_tls_write(mc_tls *tls, const void *data, int len);
/* Queues close_notify. */
void mc_tls_shutdown(mc_tls *tls);

/* The certificate verification result, and its text ("certificate has expired"). */
long mc_tls_verify_result(mc_tls *tls);
const char *mc_tls_verify_string(long result);

enum { MC_FIELD_CN = 0, MC_FIELD_O = 1, MC_FIELD_OU = 2, MC_FIELD_ST = 3 };
/* A subject field of the verified peer certificate; length, or -1 when absent. */
int mc_tls_peer_field(mc_tls *tls, int field, char *out, size_t cap);

/* Issues an ECDSA P-256 key and certificate, signed by the CA (or self-signed when the CA
 * is NULL). `san` is an OpenSSL subjectAltName value ("DNS:registry,IP:127.0.0.1") or NULL.
 * Validity runs from now + not_before_seconds to now + not_after_seconds. Outputs are PEM
 * strings to release with mc_free. Returns 0, or -1 with the reason in `err`. */
int mc_cert_issue(const char *ca_key_pem, const char *ca_cert_pem, const char *cn, const char *o,
                  const char *ou, const char *st, const char *san, int is_ca,
                  long not_before_seconds, long not_after_seconds, char **key_pem, char **cert_pem,
                  char *err, size_t errlen);
/* Signs a PEM certificate signing request with the CA: the request's signature must verify
 * (its sender holds the key), and the subject is the one given here, never the request's.
 * 0 on success, *cert_pem to be freed with mc_free. */
int mc_cert_sign_csr(const char *ca_key_pem, const char *ca_cert_pem, const char *csr_pem, const char *cn, const char *o,
                     const char *ou, const char *st, const char *san, long not_after_seconds, char **cert_pem, char *err, size_t errlen);
void mc_free(void *pointer);

/* SM3 digest (GB/T 32905) through EVP; 0 on success. */
int mc_sm3(const void *data, size_t len, unsigned char out[32]);

/* SM2 (GB/T 32918) signatures with SM3 and the standard distinguishing ID
 * "1234567812345678" (GM/T 0009). mc_sm2_generate writes a new private key as PKCS#8 PEM
 * and mc_sm2_public its public key as SubjectPublicKeyInfo PEM (release both with mc_free).
 * mc_sm2_sign writes a DER signature of at most 80 bytes into sig (cap bytes) and its
 * length into siglen; mc_sm2_verify takes a public or private key PEM. 0 on success (for
 * verify: the signature is valid), -1 otherwise. */
int mc_sm2_generate(char **key_pem);
int mc_sm2_public(const char *key_pem, char **public_pem);
int mc_sm2_sign(const char *key_pem, const void *data, size_t len, unsigned char *sig, size_t cap, size_t *siglen);
int mc_sm2_verify(const char *key_pem, const void *data, size_t len, const unsigned char *sig, size_t siglen);

/* PBKDF2-HMAC-SHA256 of a password (passwords at rest). 0 on success. */
int mc_pbkdf2_sha256(const char *password, size_t password_len, const unsigned char *salt, size_t salt_len, int iterations,
                     unsigned char *out, size_t out_len);
/* Cryptographically secure random bytes (RAND_bytes). 0 on success. */
int mc_random(unsigned char *out, size_t len);

#endif
