#include "COpenSSL.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

size_t mc_tls_errors(char *buf, size_t cap) {
    size_t used = 0;
    unsigned long e;
    if (cap == 0) return 0;
    buf[0] = 0;
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        int n = snprintf(buf + used, cap - used, "%s%s", used ? "; " : "", one);
        if (n < 0 || (size_t)n >= cap - used) { used = cap - 1; break; }
        used += (size_t)n;
    }
    ERR_clear_error();
    return used;
}

void mc_tls_clear_errors(void) { ERR_clear_error(); }

static void fail(char *err, size_t errlen, const char *what) {
    char detail[768];
    mc_tls_errors(detail, sizeof detail);
    snprintf(err, errlen, "%s%s%s", what, detail[0] ? ": " : "", detail);
}

mc_tls_context *mc_tls_context_new(int is_server, const char *cert_file, const char *key_file,
                                   const char *ca_file, char *err, size_t errlen) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
    if (!ctx) { fail(err, errlen, "cannot create a TLS context"); return NULL; }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1) {
        fail(err, errlen, "cannot set TLS 1.3 cipher suites"); SSL_CTX_free(ctx); return NULL;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        fail(err, errlen, "cannot load the certificate chain"); SSL_CTX_free(ctx); return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        fail(err, errlen, "cannot load the private key"); SSL_CTX_free(ctx); return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        fail(err, errlen, "the private key does not match the certificate"); SSL_CTX_free(ctx); return NULL;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        fail(err, errlen, "cannot load the CA certificates"); SSL_CTX_free(ctx); return NULL;
    }
    if (is_server) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    SSL_CTX_set_verify_depth(ctx, 4);
    ERR_clear_error();
    return ctx;
}

void mc_tls_context_free(mc_tls_context *ctx) { SSL_CTX_free(ctx); }

mc_tls *mc_tls_new(mc_tls_context *ctx, int is_server, const char *host) {
    SSL *ssl = SSL_new(ctx);
    if (!ssl) return NULL;
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(BIO_s_mem());
    if (!rbio || !wbio) { BIO_free(rbio); BIO_free(wbio); SSL_free(ssl); return NULL; }
    BIO_set_mem_eof_return(rbio, -1); /* an empty input BIO means "want more", not EOF */
    SSL_set_bio(ssl, rbio, wbio);
    if (is_server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        if (host && *host) {
            X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
            if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1) {
                ERR_clear_error();
                SSL_set_tlsext_host_name(ssl, host);
                if (SSL_set1_host(ssl, host) != 1) { SSL_free(ssl); return NULL; }
                X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            }
        }
    }
    return ssl;
}

void mc_tls_free(mc_tls *tls) { SSL_free(tls); }

static int classify(SSL *ssl, int ret) {
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_NONE: return MC_TLS_OK;
    case SSL_ERROR_WANT_READ: return MC_TLS_WANT_READ;
    case SSL_ERROR_ZERO_RETURN: return MC_TLS_CLOSED;
    default: return MC_TLS_ERROR;
    }
}

int mc_tls_handshake(mc_tls *tls) {
    ERR_clear_error();
    int r = SSL_do_handshake(tls);
    return r == 1 ? MC_TLS_OK : classify(tls, r);
}

int mc_tls_feed(mc_tls *tls, const void *data, int len) {
    return BIO_write(SSL_get_rbio(tls), data, len) == len ? len : -1;
}

size_t mc_tls_pending_output(mc_tls *tls) { return BIO_ctrl_pending(SSL_get_wbio(tls)); }

int mc_tls_take_output(mc_tls *tls, void *buf, int cap) {
    int n = BIO_read(SSL_get_wbio(tls), buf, cap);
    return n < 0 ? 0 : n;
}

int mc_tls_read(mc_tls *tls, void *buf, int cap, int *status) {
    ERR_clear_error();
    int n = SSL_read(tls, buf, cap);
    if (n > 0) { *status = MC_TLS_OK; return n; }
    *status = classify(tls, n);
    if (*status == MC_TLS_OK) *status = MC_TLS_WANT_READ;
    return 0;
}

int mc_tls_write(mc_tls *tls, const void *data, int len) {
    ERR_clear_error();
    int n = SSL_write(tls, data, len);
    if (n == len) return MC_TLS_OK;
    return classify(tls, n) == MC_TLS_CLOSED ? MC_TLS_CLOSED : MC_TLS_ERROR;
}

void mc_tls_shutdown(mc_tls *tls) {
    ERR_clear_error();
    SSL_shutdown(tls);
    ERR_clear_error();
}

long mc_tls_verify_result(mc_tls *tls) { return SSL_get_verify_result(tls); }
const char *mc_tls_verify_string(long result) { return X509_verify_cert_error_string(result); }

int mc_tls_peer_field(mc_tls *tls, int field, char *out, size_t cap) {
    static const int nids[] = {NID_commonName, NID_organizationName, NID_organizationalUnitName, NID_stateOrProvinceName};
    if (field < 0 || field > 3) return -1;
    X509 *cert = SSL_get0_peer_certificate(tls);
    if (!cert) return -1;
    X509_NAME *name = X509_get_subject_name(cert);
    int index = X509_NAME_get_index_by_NID(name, nids[field], -1);
    if (index < 0) return -1;
    ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) return -1;
    if ((size_t)len >= cap) len = (int)cap - 1;
    memcpy(out, utf8, (size_t)len);
    out[len] = 0;
    OPENSSL_free(utf8);
    return len;
}

/* ---------------------------------------------------------------- certificates */

static char *bio_string(BIO *bio) {
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    char *copy = OPENSSL_malloc((size_t)len + 1);
    if (!copy) return NULL;
    memcpy(copy, data, (size_t)len);
    copy[len] = 0;
    return copy;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static int add_name(X509_NAME *name, const char *field, const char *value) {
    if (!value || !*value) return 1;
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1, -1, 0);
}

/* The CA's key and certificate from PEM; 0 on success. */
static int read_ca(const char *key_pem, const char *cert_pem, EVP_PKEY **key, X509 **cert) {
    BIO *bio = BIO_new_mem_buf(key_pem, -1);
    *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    bio = BIO_new_mem_buf(cert_pem, -1);
    *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return *key && *cert ? 0 : -1;
}

/* A new certificate for `key`: version 3, a random 127-bit serial, validity relative to now,
 * subject ST/O/OU/CN (empty fields left out), issued by `issuer` (itself when NULL). NULL
 * when a subject field is invalid. */
static X509 *new_certificate(EVP_PKEY *key, X509 *issuer, const char *st, const char *o, const char *ou, const char *cn,
                             long not_before_seconds, long not_after_seconds) {
    X509 *cert = X509_new();
    if (!cert) return NULL;
    X509_set_version(cert, 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert), not_before_seconds);
    X509_gmtime_adj(X509_getm_notAfter(cert), not_after_seconds);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    if (!add_name(name, "ST", st) || !add_name(name, "O", o) || !add_name(name, "OU", ou) || !add_name(name, "CN", cn)) {
        X509_free(cert);
        return NULL;
    }
    X509_set_issuer_name(cert, X509_get_subject_name(issuer ? issuer : cert));
    return cert;
}

/* A peer's extensions (client and server authentication), signed by `issuer`; 1 on success. */
static int add_leaf_extensions(X509 *cert, X509 *issuer, const char *san) {
    return add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
           add_ext(cert, issuer, NID_key_usage, "critical,digitalSignature") &&
           add_ext(cert, issuer, NID_ext_key_usage, "serverAuth,clientAuth") &&
           add_ext(cert, issuer, NID_subject_key_identifier, "hash") &&
           (issuer == cert || add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always")) &&
           (!san || !*san || add_ext(cert, issuer, NID_subject_alt_name, san));
}

int mc_cert_issue(const char *ca_key_pem, const char *ca_cert_pem, const char *cn, const char *o,
                  const char *ou, const char *st, const char *san, int is_ca,
                  long not_before_seconds, long not_after_seconds, char **key_pem, char **cert_pem,
                  char *err, size_t errlen) {
    int ok = 0;
    EVP_PKEY *key = NULL, *ca_key = NULL;
    X509 *cert = NULL, *ca_cert = NULL;
    BIO *bio = NULL;
    ERR_clear_error();
    *key_pem = NULL;
    *cert_pem = NULL;

    if (ca_key_pem && ca_cert_pem && read_ca(ca_key_pem, ca_cert_pem, &ca_key, &ca_cert) != 0) {
        fail(err, errlen, "cannot read the CA key or certificate"); goto done;
    }
    key = EVP_EC_gen("P-256");
    if (!key) { fail(err, errlen, "cannot generate a key"); goto done; }
    cert = new_certificate(key, ca_cert, st, o, ou, cn, not_before_seconds, not_after_seconds);
    if (!cert) { fail(err, errlen, "invalid subject field"); goto done; }
    X509 *issuer = ca_cert ? ca_cert : cert;
    if (is_ca) {
        if (!add_ext(cert, issuer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
            !add_ext(cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign") ||
            !add_ext(cert, issuer, NID_subject_key_identifier, "hash")) {
            fail(err, errlen, "cannot add CA extensions"); goto done;
        }
    } else if (!add_leaf_extensions(cert, issuer, san)) {
        fail(err, errlen, "cannot add extensions (or an invalid subjectAltName)"); goto done;
    }
    if (!X509_sign(cert, ca_key ? ca_key : key, EVP_sha256())) { fail(err, errlen, "cannot sign the certificate"); goto done; }

    bio = BIO_new(BIO_s_mem());
    if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) { fail(err, errlen, "cannot write the key"); goto done; }
    *key_pem = bio_string(bio);
    BIO_free(bio);
    bio = BIO_new(BIO_s_mem());
    if (!PEM_write_bio_X509(bio, cert)) { fail(err, errlen, "cannot write the certificate"); goto done; }
    *cert_pem = bio_string(bio);
    ok = *key_pem && *cert_pem;
    if (!ok) snprintf(err, errlen, "out of memory");
done:
    BIO_free(bio);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    X509_free(cert);
    X509_free(ca_cert);
    if (!ok) {
        OPENSSL_free(*key_pem);
        OPENSSL_free(*cert_pem);
        *key_pem = NULL;
        *cert_pem = NULL;
    }
    return ok ? 0 : -1;
}

void mc_free(void *pointer) { OPENSSL_free(pointer); }

/* Fetched once: EVP_MD_fetch takes a lock and searches the provider's algorithms, which
 * cost more than hashing a claim. */
static EVP_MD *sm3_md;
static pthread_once_t sm3_once = PTHREAD_ONCE_INIT;
static void sm3_fetch(void) { sm3_md = EVP_MD_fetch(NULL, "SM3", NULL); }

int mc_sm3(const void *data, size_t len, unsigned char out[32]) {
    pthread_once(&sm3_once, sm3_fetch);
    if (!sm3_md) return -1;
    unsigned int n = 0;
    int ok = EVP_Digest(data, len, out, &n, sm3_md, NULL);
    return ok == 1 && n == 32 ? 0 : -1;
}

/* ---- SM2 signatures ---- */

static const char sm2_id[] = "1234567812345678";

static char *pem_of(EVP_PKEY *key, int private_part) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return NULL;
    int ok = private_part ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(bio, key);
    char *out = NULL;
    if (ok == 1) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        out = OPENSSL_malloc((size_t)n + 1);
        if (out) { memcpy(out, data, (size_t)n); out[n] = 0; }
    }
    BIO_free(bio);
    return out;
}

static EVP_PKEY *key_of(const char *pem) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio) return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!key) {
        ERR_clear_error();
        BIO_free(bio);
        bio = BIO_new_mem_buf(pem, -1);
        if (!bio) return NULL;
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    if (key && !EVP_PKEY_is_a(key, "SM2")) { EVP_PKEY_free(key); key = NULL; }
    return key;
}

int mc_sm2_generate(char **key_pem) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
    EVP_PKEY *key = NULL;
    int rc = -1;
    if (ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &key) == 1) {
        *key_pem = pem_of(key, 1);
        rc = *key_pem ? 0 : -1;
    }
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int mc_sm2_public(const char *key_pem, char **public_pem) {
    EVP_PKEY *key = key_of(key_pem);
    if (!key) return -1;
    *public_pem = pem_of(key, 0);
    EVP_PKEY_free(key);
    return *public_pem ? 0 : -1;
}

static EVP_MD_CTX *sm2_context(EVP_PKEY *key, int signing) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (!md || !pctx || EVP_PKEY_CTX_set1_id(pctx, sm2_id, sizeof sm2_id - 1) <= 0) {
        EVP_MD_CTX_free(md);
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    EVP_MD_CTX_set_pkey_ctx(md, pctx);  /* md uses pctx but does not own it: freed by the caller after md */
    int ok = signing ? EVP_DigestSignInit(md, NULL, EVP_sm3(), NULL, key) : EVP_DigestVerifyInit(md, NULL, EVP_sm3(), NULL, key);
    if (ok != 1) {
        EVP_MD_CTX_free(md);
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    return md;
}

int mc_sm2_sign(const char *key_pem, const void *data, size_t len, unsigned char *sig, size_t cap, size_t *siglen) {
    EVP_PKEY *key = key_of(key_pem);
    if (!key) return -1;
    EVP_MD_CTX *md = sm2_context(key, 1);
    int rc = -1;
    size_t n = cap;
    if (md && EVP_DigestSign(md, sig, &n, data, len) == 1) { *siglen = n; rc = 0; }
    if (md) {
        EVP_PKEY_CTX *pctx = EVP_MD_CTX_get_pkey_ctx(md);
        EVP_MD_CTX_free(md);
        EVP_PKEY_CTX_free(pctx);
    }
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}

int mc_sm2_verify(const char *key_pem, const void *data, size_t len, const unsigned char *sig, size_t siglen) {
    EVP_PKEY *key = key_of(key_pem);
    if (!key) return -1;
    EVP_MD_CTX *md = sm2_context(key, 0);
    int rc = (md && EVP_DigestVerify(md, sig, siglen, data, len) == 1) ? 0 : -1;
    if (md) {
        EVP_PKEY_CTX *pctx = EVP_MD_CTX_get_pkey_ctx(md);
        EVP_MD_CTX_free(md);
        EVP_PKEY_CTX_free(pctx);
    }
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}

int mc_pbkdf2_sha256(const char *password, size_t password_len, const unsigned char *salt, size_t salt_len, int iterations,
                     unsigned char *out, size_t out_len) {
    return PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, iterations, EVP_sha256(), (int)out_len, out) == 1 ? 0 : -1;
}

int mc_random(unsigned char *out, size_t len) {
    return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}

int mc_cert_sign_csr(const char *ca_key_pem, const char *ca_cert_pem, const char *csr_pem, const char *cn, const char *o,
                     const char *ou, const char *st, const char *san, long not_after_seconds, char **cert_pem, char *err, size_t errlen) {
    int ok = 0;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca_cert = NULL, *cert = NULL;
    X509_REQ *req = NULL;
    BIO *bio = NULL;
    ERR_clear_error();
    *cert_pem = NULL;
    if (read_ca(ca_key_pem, ca_cert_pem, &ca_key, &ca_cert) != 0) { fail(err, errlen, "cannot read the CA key or certificate"); goto done; }
    bio = BIO_new_mem_buf(csr_pem, -1);
    req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    BIO_free(bio);
    bio = NULL;
    if (!req) { fail(err, errlen, "not a PEM certificate signing request"); goto done; }
    key = X509_REQ_get_pubkey(req);
    /* The request must be signed by the key it carries: whoever sent it holds that key. */
    if (!key || X509_REQ_verify(req, key) != 1) { fail(err, errlen, "the request's signature does not verify"); goto done; }
    /* The identity is the issuer's to state, never the request's subject. */
    cert = new_certificate(key, ca_cert, st, o, ou, cn, -3600, not_after_seconds);
    if (!cert) { fail(err, errlen, "invalid subject field"); goto done; }
    if (!add_leaf_extensions(cert, ca_cert, san)) { fail(err, errlen, "cannot add extensions (or an invalid subjectAltName)"); goto done; }
    if (!X509_sign(cert, ca_key, EVP_sha256())) { fail(err, errlen, "cannot sign the certificate"); goto done; }
    bio = BIO_new(BIO_s_mem());
    if (!PEM_write_bio_X509(bio, cert)) { fail(err, errlen, "cannot write the certificate"); goto done; }
    *cert_pem = bio_string(bio);
    ok = *cert_pem != NULL;
done:
    BIO_free(bio);
    X509_REQ_free(req);
    X509_free(cert);
    X509_free(ca_cert);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return ok ? 0 : -1;
}
