/* ipsnet ping, ipsnet whoami. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "util.h"

int cli_no_args(int argc, char **argv, const char *usage)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
			  strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc >= 2) {
		fprintf(stderr,
			"ipsnet: unexpected argument '%s'; see 'ipsnet %s "
			"--help'\n",
			argv[1], argv[0]);
		return 2;
	}
	return -1;
}

static const char ping_usage[] =
    "usage: ipsnet ping [--count N]\n"
    "Sends N pings (default 1) over one connection and prints each\n"
    "round-trip time in milliseconds.\n";

int cmd_ping(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"count", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long count = 1;
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:h", longopts, NULL)) != -1) {
		char *end;
		switch (ch) {
		case 'n':
			count = strtoul(optarg, &end, 10);
			if (*end != '\0' || count == 0 || count > 100000)
				return cli_fail(IPSNET_EUSAGE,
						"--count takes a number from 1 "
						"to 100000");
			break;
		case 'h':
			fputs(ping_usage, stdout);
			return 0;
		default:
			return cli_bad_option(ch, argv, "ping");
		}
	}
	if (optind < argc)
		return cli_fail(IPSNET_EUSAGE, "unexpected argument '%s'",
				argv[optind]);

	struct ipsnet_client *c;
	int rv = cli_connect(cli, &c);
	if (rv != 0)
		return rv;
	json_t *rtts = json_array();
	double min = 0, max = 0, sum = 0;
	for (unsigned long i = 0; i < count; i++) {
		Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
		Ipsnet__V1__Envelope *resp;
		char err[512];
		uint64_t t0 = util_mono_us();
		ping.client_time_us = t0;
		req.body_case = IPSNET__V1__ENVELOPE__BODY_PING;
		req.ping = &ping;
		rv = ipsnet_client_call(c, &req, &resp, err, sizeof(err));
		double ms = (double)(util_mono_us() - t0) / 1000.0;
		ipsnet_envelope_free(resp);
		if (rv != 0) {
			json_decref(rtts);
			ipsnet_client_close(c);
			return cli_fail(rv, "%s", err);
		}
		min = i == 0 || ms < min ? ms : min;
		max = ms > max ? ms : max;
		sum += ms;
		json_array_append_new(rtts, json_real(ms));
		if (!cli->json)
			printf("pong from %s: time=%.3f ms\n",
			       cli->settings.server, ms);
	}
	if (cli->json) {
		json_t *o = json_object();
		json_object_set_new(o, "server",
				    fmt_json_str(cli->settings.server));
		json_object_set_new(o, "count", json_integer((json_int_t)count));
		json_object_set_new(o, "rtt_ms", rtts);
		json_object_set_new(o, "min_ms", json_real(min));
		/* whole microseconds, as each time measured */
		json_object_set_new(
		    o, "avg_ms",
		    json_real((double)(long long)(sum / count * 1000.0 + 0.5) /
			      1000.0));
		json_object_set_new(o, "max_ms", json_real(max));
		cli_print_json(o);
	} else {
		json_decref(rtts);
		if (count > 1)
			printf("%lu pings: min %.3f ms, avg %.3f ms, max %.3f "
			       "ms\n",
			       count, min, sum / count, max);
	}
	ipsnet_client_close(c);
	return 0;
}

static const char whoami_usage[] =
    "usage: ipsnet whoami\n"
    "Prints the organisation the certificate stands for, its kind, the\n"
    "user, the server's version and the journal head.\n";

static const char *kind_name(int kind)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &ipsnet__v1__org_kind__descriptor, kind);
	return v != NULL ? v->name : "UNKNOWN";
}

int cmd_whoami(struct cli *cli, int argc, char **argv)
{
	int rv = cli_no_args(argc, argv, whoami_usage);
	if (rv >= 0)
		return rv;
	struct ipsnet_client *c;
	rv = cli_connect(cli, &c);
	if (rv != 0)
		return rv;
	const Ipsnet__V1__HelloOk *h = ipsnet_client_hello(c);
	char hash[65];
	util_hex(hash, sizeof(hash), h->journal_hash.data,
		 h->journal_hash.len);
	if (cli->json) {
		json_t *o = json_object();
		json_object_set_new(o, "organisation",
				    json_string(h->organisation_id));
		json_object_set_new(o, "kind",
				    json_string(kind_name(h->organisation_kind)));
		json_object_set_new(o, "name",
				    fmt_json_str(h->organisation_name));
		json_object_set_new(o, "user",
				    fmt_json_str(cli->settings.user));
		json_object_set_new(o, "server",
				    fmt_json_str(cli->settings.server));
		json_object_set_new(o, "server_version",
				    json_string(h->server_version));
		json_object_set_new(o, "journal_seq",
				    json_integer((json_int_t)h->journal_seq));
		json_object_set_new(o, "journal_hash", json_string(hash));
		cli_print_json(o);
	} else {
		printf("organisation   %s (%s)\n", h->organisation_id,
		       kind_name(h->organisation_kind));
		printf("name           %s\n", h->organisation_name);
		printf("user           %s\n", cli->settings.user);
		printf("server         ipsnetd %s at %s\n", h->server_version,
		       cli->settings.server);
		printf("journal head   seq %llu, hash %s\n",
		       (unsigned long long)h->journal_seq, hash);
	}
	ipsnet_client_close(c);
	return 0;
}
