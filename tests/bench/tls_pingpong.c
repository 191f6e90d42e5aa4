/* tls-pingpong: the round trip of one small TLS record over loopback, with
 * nothing else around it: the floor under any request-and-answer protocol
 * on this machine.
 *
 * The process forks; the child accepts one connection on 127.0.0.1 and
 * sends every record it reads straight back; the parent sends a record of
 * --bytes, waits for it to come back, and so on, on blocking sockets with
 * TCP_NODELAY, TLS 1.3 as OpenSSL negotiates it by default (as ipsnetd and
 * libipsnet do). Prints round trips per second and their percentiles in
 * ipsnet-load's format, so that journal_bench.sh reads both alike.
 *
 * Bounded: --duration is at most 60 seconds, and a peer that stops
 * answering ends the run. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_BYTES 16384
#define MAX_SECONDS 60
#define MAX_SAMPLES 4000000
#define WARMUP_ROUNDS 1000

static const char usage_text[] =
    "usage: tls-pingpong --cert FILE --key FILE --duration S [--bytes N]\n"
    "\n"
    "Sends one TLS record of N bytes (default 64) to an echoing child over\n"
    "127.0.0.1 and waits for it, for S seconds (1 to 60); prints round\n"
    "trips a second and p50/p99/p99.9 in ms.\n";

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void die_tls(const char *what)
{
	fprintf(stderr, "tls-pingpong: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void no_delay(int fd)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		perror("tls-pingpong: TCP_NODELAY");
}

/* The echoing child: one connection, every record straight back. */
static void echo(int listener, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		die_tls("loading the certificate");
	int fd = accept(listener, NULL, NULL);
	if (fd < 0) {
		perror("tls-pingpong: accept");
		exit(1);
	}
	no_delay(fd);
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1)
		die_tls("the handshake (server)");
	char buf[MAX_BYTES];
	int n;
	while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0)
		if (SSL_write(ssl, buf, n) != n)
			break;
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	exit(0);
}

static int round_trip(SSL *ssl, char *buf, int bytes)
{
	if (SSL_write(ssl, buf, bytes) != bytes)
		return -1;
	for (int got = 0; got < bytes;) {
		int n = SSL_read(ssl, buf + got, bytes - got);
		if (n <= 0)
			return -1;
		got += n;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double quantile_ms(const double *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)(q * (double)n + 0.5);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1] / 1000.0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"duration", required_argument, NULL, 'd'},
	    {"bytes", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *cert = NULL, *key = NULL;
	long seconds = 0, bytes = 64;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'd':
			seconds = strtol(optarg, NULL, 10);
			break;
		case 'b':
			bytes = strtol(optarg, NULL, 10);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (cert == NULL || key == NULL || seconds < 1 ||
	    seconds > MAX_SECONDS || bytes < 1 || bytes > MAX_BYTES ||
	    optind < argc) {
		fputs(usage_text, stderr);
		return 2;
	}

	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&sa, len) != 0 ||
	    listen(listener, 1) != 0 ||
	    getsockname(listener, (struct sockaddr *)&sa, &len) != 0) {
		perror("tls-pingpong: listen on 127.0.0.1");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	pid_t child = fork();
	if (child < 0) {
		perror("tls-pingpong: fork");
		return 1;
	}
	if (child == 0)
		echo(listener, cert, key);
	close(listener);

	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctx == NULL || fd < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("tls-pingpong: connect");
		kill(child, SIGTERM);
		return 1;
	}
	no_delay(fd);
	/* The certificate is not checked: this measures the records only. */
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
		die_tls("the handshake (client)");

	char buf[MAX_BYTES];
	memset(buf, 'x', sizeof(buf));
	double *lat = malloc(MAX_SAMPLES * sizeof(*lat));
	size_t n = 0;
	int rv = lat == NULL;
	for (int i = 0; i < WARMUP_ROUNDS && rv == 0; i++)
		rv = round_trip(ssl, buf, (int)bytes);
	double t0 = now_us(), end = t0 + (double)seconds * 1e6, t = t0;
	while (rv == 0 && t < end && n < MAX_SAMPLES) {
		double sent = t;
		rv = round_trip(ssl, buf, (int)bytes);
		t = now_us();
		lat[n++] = t - sent;
	}
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	waitpid(child, NULL, 0);
	if (rv != 0) {
		fprintf(stderr, "tls-pingpong: the echo stopped answering\n");
		free(lat);
		return 1;
	}
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("bytes=%ld measured_s=%.3f\n", bytes, (t - t0) / 1e6);
	printf("acknowledged=%zu changes_per_s=%.1f p50_ms=%.3f p99_ms=%.3f "
	       "p999_ms=%.3f\n",
	       n, (double)n * 1e6 / (t - t0), quantile_ms(lat, n, 0.50),
	       quantile_ms(lat, n, 0.99), quantile_ms(lat, n, 0.999));
	free(lat);
	return 0;
}
