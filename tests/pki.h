/* SPDX-License-Identifier: MIT */
/* Test certificates, made at test time with the openssl command-line tool
 * in a fresh directory under /tmp (no key ships with the tests): a CA
 * (ca_pem), a server certificate for localhost and 127.0.0.1 signed by it
 * (srv_pem/srv_key, subject O=cio tests), an expired one (exp_*), one for
 * another name (wrong_*: other.example) and a self-signed one (self_*).
 * Header-only, as every test is one source file. */
#ifndef CIO_TESTS_PKI_H
#define CIO_TESTS_PKI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static char pki_dir[64];
static char ca_pem[128], srv_pem[128], srv_key[128], exp_pem[128], exp_key[128], self_pem[128], self_key[128],
    wrong_pem[128], wrong_key[128];

/* Runs a shell command in pki_dir, its output to pki_dir/log. */
static bool pki_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[2300];
    snprintf(full, sizeof full, "cd '%s' && { %s ; } >>log 2>&1", pki_dir, cmd);
    int rc = system(full);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc == 0;
}

static bool pki_write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", pki_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fputs(text, f);
    return fclose(f) == 0;
}

static bool pki_certs(void)
{
    char cnf[2048];
    snprintf(cnf, sizeof cnf,
             "[req]\n"
             "distinguished_name = dn\n"
             "[dn]\n"
             "[ca]\n"
             "default_ca = testca\n"
             "[testca]\n"
             "dir = %s\n"
             "database = $dir/index.txt\n"
             "new_certs_dir = $dir\n"
             "serial = $dir/serial\n"
             "default_md = sha256\n"
             "policy = pol\n"
             "unique_subject = no\n"
             "[pol]\n"
             "commonName = supplied\n"
             "organizationName = optional\n"
             "[v3_ca]\n"
             "basicConstraints = critical, CA:TRUE\n"
             "keyUsage = critical, keyCertSign, cRLSign\n"
             "subjectKeyIdentifier = hash\n"
             "[v3_leaf]\n"
             "basicConstraints = critical, CA:FALSE\n"
             "keyUsage = critical, digitalSignature\n"
             "extendedKeyUsage = serverAuth\n"
             "subjectKeyIdentifier = hash\n"
             "authorityKeyIdentifier = keyid\n"
             "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
             "[v3_wrong]\n"
             "basicConstraints = critical, CA:FALSE\n"
             "keyUsage = critical, digitalSignature\n"
             "extendedKeyUsage = serverAuth\n"
             "subjectAltName = DNS:other.example\n",
             pki_dir);
    if (!pki_write_file("cnf", cnf) || !pki_write_file("index.txt", "") || !pki_write_file("serial", "01\n"))
        return false;
    const char *k = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    return pki_sh("openssl req -config cnf -x509 %s -keyout ca.key -out ca.pem -days 30 -subj '/CN=cio test CA' "
                  "-extensions v3_ca",
                  k) &&
           pki_sh("openssl req -config cnf -new %s -keyout srv.key -out srv.csr -subj '/O=cio tests/CN=localhost'", k) &&
           pki_sh("openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -set_serial 1001 -days 30 -extfile cnf "
                  "-extensions v3_leaf -out srv.pem") &&
           pki_sh("openssl req -config cnf -new %s -keyout exp.key -out exp.csr -subj '/CN=localhost'", k) &&
           pki_sh("openssl ca -batch -config cnf -cert ca.pem -keyfile ca.key -in exp.csr -out exp.pem -notext "
                  "-startdate 20200101000000Z -enddate 20200201000000Z -extensions v3_leaf") &&
           pki_sh("openssl req -config cnf -new %s -keyout wrong.key -out wrong.csr -subj '/CN=other.example'", k) &&
           pki_sh("openssl x509 -req -in wrong.csr -CA ca.pem -CAkey ca.key -set_serial 1002 -days 30 -extfile cnf "
                  "-extensions v3_wrong -out wrong.pem") &&
           pki_sh("openssl req -config cnf -x509 %s -keyout self.key -out self.pem -days 30 -subj '/CN=localhost' "
                  "-extensions v3_leaf",
                  k);
}

/* Makes the directory (/tmp/cio-TAG-XXXXXX) and the certificates.  1: made;
 * 0: no openssl command-line tool; -1: failed (openssl's log printed, the
 * directory removed). */
static int pki_make(const char *tag)
{
    if (system("openssl version >/dev/null 2>&1") != 0)
        return 0;
    snprintf(pki_dir, sizeof pki_dir, "/tmp/cio-%s-XXXXXX", tag);
    if (!mkdtemp(pki_dir)) {
        perror("mkdtemp");
        pki_dir[0] = 0;
        return -1;
    }
#define P(var, name) snprintf(var, sizeof var, "%s/%s", pki_dir, name)
    P(ca_pem, "ca.pem");
    P(srv_pem, "srv.pem");
    P(srv_key, "srv.key");
    P(exp_pem, "exp.pem");
    P(exp_key, "exp.key");
    P(self_pem, "self.pem");
    P(self_key, "self.key");
    P(wrong_pem, "wrong.pem");
    P(wrong_key, "wrong.key");
#undef P
    if (pki_certs())
        return 1;
    fprintf(stderr, "could not make the test certificates; log:\n");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cat '%s/log' >&2; rm -rf '%s'", pki_dir, pki_dir);
    if (system(cmd) != 0) {
    }
    pki_dir[0] = 0;
    return -1;
}

/* pki_make for a program that cannot run without the certificates: 0 when
 * made, else what main returns: 77 (CTest's skip) when there is no openssl
 * command-line tool, 1 when making them failed. */
static inline int pki_make_or_skip(const char *tag)
{
    int made = pki_make(tag);
    if (made == 0)
        fprintf(stderr, "skip: no openssl command line tool\n");
    return made > 0 ? 0 : made == 0 ? 77 : 1;
}

/* Removes the directory (if pki_make made one). */
static void pki_remove(void)
{
    if (!pki_dir[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pki_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", pki_dir);
    pki_dir[0] = 0;
}

#endif
