/* Example: follow the ipsnet journal on your own libuv loop.
 *
 *   subscribe PROFILE [SINCE_SEQ [SINCE_HASH]]
 *
 * Connects with a profile (see README.md), subscribes from SINCE_SEQ (0:
 * from the start) and prints one line per event until Ctrl-C. Each event's
 * line starts with its seq and ends with "hash HASH": the last line's two
 * are SINCE_SEQ and SINCE_HASH for the next run (or the caught-up line's,
 * when no event came after it). A real program would store ev->seq and its
 * hash with its own data, in the same transaction, and pass them next
 * time: no gap and no duplicate, and a server whose journal is another one
 * (restored from a backup, another server) refuses instead of mixing it
 * in. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipsnet.h>

struct app {
	uv_loop_t *loop;
	uv_signal_t sigint;
	struct ipsnet_conn *conn;
	uint64_t since;
	uint8_t since_hash[IPSNET_HASH_BYTES];
	bool has_hash;
	int status;
};

/* The hash of the entry at the seq just handled, in hex: what to store
 * with it. */
static const char *hash_hex(const struct ipsnet_conn *c, char out[65])
{
	const uint8_t *h = ipsnet_subscription_hash(c);
	out[0] = '\0';
	for (int i = 0; h != NULL && i < IPSNET_HASH_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
	return out;
}

static void on_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
		     void *arg)
{
	const Ipsnet__V1__ChangeOk *s = ev->state;
	char hex[65];
	(void)arg;
	printf("%" PRIu64 " %s %s by %s: %s %s version %" PRIu64 "%s hash %s\n",
	       ev->seq, ev->time, ev->change, ev->organisation,
	       s != NULL ? s->entity_kind : "?", s != NULL ? s->entity_id : "?",
	       s != NULL ? s->version : 0, ev->live ? " (live)" : "",
	       hash_hex(c, hex));
	fflush(stdout);
}

static void on_caught_up(struct ipsnet_conn *c, uint64_t seq, void *arg)
{
	char hex[65];
	(void)arg;
	printf("-- caught up at seq %" PRIu64 " (hash %s), now live --\n", seq,
	       hash_hex(c, hex));
	fflush(stdout);
}

static const struct ipsnet_subscription_callbacks sub_cb = {
    .on_event = on_event,
    .on_caught_up = on_caught_up,
};

static void on_subscribed(struct ipsnet_conn *c, int status,
			  const char *message, const Ipsnet__V1__Envelope *resp,
			  void *arg)
{
	struct app *app = arg;
	(void)resp;
	if (status != 0) {
		fprintf(stderr, "subscribe: %s\n", message);
		app->status = 1;
		ipsnet_close(c);
	}
}

static void on_ready(struct ipsnet_conn *c, int status, const char *message,
		     void *arg)
{
	struct app *app = arg;
	(void)message;
	if (status != 0)
		return; /* on_closed follows, with the same message */
	const Ipsnet__V1__HelloOk *h = ipsnet_conn_hello(c);
	printf("connected as %s, journal head %" PRIu64 "\n",
	       h->organisation_id, h->journal_seq);
	fflush(stdout);
	int rv = ipsnet_subscribe_from(
	    c, app->since, app->has_hash ? app->since_hash : NULL, NULL, 0,
	    &sub_cb, app, on_subscribed, app);
	if (rv != 0) {
		fprintf(stderr, "subscribe: %s\n", ipsnet_strerror(rv));
		app->status = 1;
		ipsnet_close(c);
	}
}

static void on_closed(struct ipsnet_conn *c, int status, const char *message,
		      void *arg)
{
	struct app *app = arg;
	(void)c;
	if (status != 0) {
		fprintf(stderr, "%s\n", message);
		app->status = 1;
	}
	app->conn = NULL;
	uv_close((uv_handle_t *)&app->sigint, NULL);
}

static void on_sigint(uv_signal_t *h, int signum)
{
	struct app *app = h->data;
	(void)signum;
	if (app->conn != NULL)
		ipsnet_close(app->conn);
}

static const struct ipsnet_callbacks conn_cb = {
    .on_ready = on_ready,
    .on_closed = on_closed,
};

int main(int argc, char **argv)
{
	struct app app = {.loop = uv_default_loop()};
	struct ipsnet_settings settings;
	char err[512];

	if (argc < 2) {
		fprintf(stderr,
			"usage: subscribe PROFILE [SINCE_SEQ [SINCE_HASH]]\n");
		return 2;
	}
	if (argc > 2) {
		/* Digits only: strtoull alone takes "abc" for 0 and "-5" for
		 * a number near 2^64. */
		char *end;
		errno = 0;
		app.since = strtoull(argv[2], &end, 10);
		if (argv[2][0] < '0' || argv[2][0] > '9' || *end != '\0' ||
		    errno != 0) {
			fprintf(stderr,
				"SINCE_SEQ: a journal seq, 0 or more\n");
			return 2;
		}
	}
	if (argc > 3) {
		const char *hex = argv[3];
		app.has_hash = strlen(hex) == 2 * IPSNET_HASH_BYTES &&
			       strspn(hex, "0123456789abcdefABCDEF") ==
				   2 * IPSNET_HASH_BYTES;
		for (int i = 0; app.has_hash && i < IPSNET_HASH_BYTES; i++) {
			unsigned v;
			app.has_hash = sscanf(hex + 2 * i, "%2x", &v) == 1;
			app.since_hash[i] = (uint8_t)v;
		}
		if (!app.has_hash) {
			fprintf(stderr, "SINCE_HASH: 64 hex digits\n");
			return 2;
		}
	}
	if (ipsnet_settings_load(&settings, argv[1], err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	struct ipsnet_options o = ipsnet_settings_options(&settings);
	if (ipsnet_connect(app.loop, &o, &conn_cb, &app, &app.conn, err,
			   sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	uv_signal_init(app.loop, &app.sigint);
	app.sigint.data = &app;
	uv_signal_start(&app.sigint, on_sigint, SIGINT);
	uv_run(app.loop, UV_RUN_DEFAULT);
	uv_loop_close(app.loop);
	return app.status;
}
