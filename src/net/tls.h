/* Test hooks of the TLS transport (tls.c); the transport itself is
 * declared in net.h. */
#ifndef CIO_NET_TLS_H
#define CIO_NET_TLS_H

/* The number of stat() calls the context cache has made so far (it checks
 * the files named in the options once per recheck interval, not per
 * connection). */
unsigned long cio__tls_stat_calls(void);

/* Sets the interval between two checks of a cached context's files
 * (seconds; default 1; 0: every connection). */
void cio__tls_set_recheck(double secs);

#endif
