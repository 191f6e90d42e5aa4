/* ipsnetd: the ipsnet daemon. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "alloc.h"
#include "config.h"
#include "ipsnet_errors.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "tls.h"
#include "util.h"

static const char usage[] =
    "usage: ipsnetd [serve] [--config FILE] [--listen ADDR:PORT] [--log-level LEVEL]\n"
    "       ipsnetd init [--config FILE]\n"
    "       ipsnetd --help | --version\n"
    "\n"
    "commands:\n"
    "  serve   serve clients over mutual TLS (the default)\n"
    "  init    create the database, or bring its schema up to date, and\n"
    "          load the organisation registry from the config\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     read FILE (see deploy/ipsnetd.conf.example);\n"
    "                        without it the embedded defaults of the\n"
    "                        development network under ./var are used\n"
    "  -l, --listen ADDR:PORT  listen there instead (port 0: any free port)\n"
    "      --log-level LEVEL debug, info, warn or error\n"
    "  -h, --help            this text\n"
    "  -V, --version         the version\n"
    "\n"
    "signals: SIGTERM and SIGINT shut down gracefully; SIGHUP reloads the\n"
    "registry, the certificates and the CRL.\n";

struct options {
	const char *command;
	const char *config;
	const char *listen;
	const char *log_level;
};

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "c:l:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 'L':
			o->log_level = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case 'V':
			printf("ipsnetd %s\n", IPSNET_VERSION);
			exit(0);
		default:
			fputs(usage, stderr);
			return IPSNET_EUSAGE;
		}
	}
	if (optind < argc)
		o->command = argv[optind++];
	else
		o->command = "serve";
	if (optind < argc) {
		fprintf(stderr, "ipsnetd: unexpected argument '%s'\n%s",
			argv[optind], usage);
		return IPSNET_EUSAGE;
	}
	return 0;
}

static int load_config(const struct options *o, struct server_config *cfg)
{
	char err[512];
	config_defaults(cfg);
	if (o->config != NULL &&
	    config_load(cfg, o->config, err, sizeof(err)) != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		return IPSNET_ECONFIG;
	}
	if (o->listen != NULL)
		util_strlcpy(cfg->listen, o->listen, sizeof(cfg->listen));
	if (o->log_level != NULL)
		util_strlcpy(cfg->log_level, o->log_level,
			     sizeof(cfg->log_level));
	enum log_level level;
	if (log_level_parse(cfg->log_level, &level) != 0) {
		fprintf(stderr,
			"ipsnetd: log level '%s' is not debug, info, warn or "
			"error\n",
			cfg->log_level);
		return IPSNET_ECONFIG;
	}
	log_set_level(level);
	if (config_validate(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		return IPSNET_ECONFIG;
	}
	return 0;
}

static int cmd_init(const struct server_config *cfg)
{
	char err[512];
	if (store_init(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		return 1;
	}
	log_info("initialised", "database=%s organisations=%zu", cfg->database,
		 cfg->n_orgs);
	return 0;
}

static int cmd_serve(const struct server_config *cfg, const char *config_path)
{
	char err[512];
	struct registry registry;
	SSL_CTX *tls;
	struct server server;
	uv_loop_t loop;
	int rv;

	if (store_load_registry(cfg->database, &registry, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		return 1;
	}
	struct tls_ctx_opts o = {
	    .server = true,
	    .ca = cfg->ca,
	    .cert = cfg->cert,
	    .key = cfg->key,
	    .crl = cfg->crl,
	    .min_version = cfg->tls_min_version,
	};
	if (tls_ctx_new(&tls, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		rv = 1;
		goto err_after_registry;
	}
	if (cfg->crl[0] == '\0')
		log_warn("no CRL configured",
			 "detail=\"revoked certificates are not refused\"");
	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "ipsnetd: cannot start the event loop\n");
		rv = 1;
		goto err_after_tls;
	}
	if (server__start(&server, &loop, cfg, config_path, tls, &registry,
			  err, sizeof(err)) != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		rv = 1;
		goto err_after_loop;
	}
	/* From here the server owns tls and registry. */
	uv_run(&loop, UV_RUN_DEFAULT);
	rv = server.exit_code;
	SSL_CTX_free(server.tls);
	registry_free(&server.registry);
	if (uv_loop_close(&loop) != 0) {
		log_error("event loop not empty at exit", "detail=\"bug\"");
		rv = 1;
	}
	return rv;

err_after_loop:
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_loop_close(&loop);
err_after_tls:
	SSL_CTX_free(tls);
err_after_registry:
	registry_free(&registry);
	return rv;
}

int main(int argc, char **argv)
{
	struct options o;
	struct server_config *cfg;
	int rv;

	signal(SIGPIPE, SIG_IGN);
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	cfg = ipsnet_malloc(sizeof(*cfg));
	if (cfg == NULL)
		return 1;
	if (load_config(&o, cfg) != 0) {
		ipsnet_free(cfg);
		return 2;
	}
	if (strcmp(o.command, "init") == 0) {
		rv = cmd_init(cfg);
	} else if (strcmp(o.command, "serve") == 0) {
		rv = cmd_serve(cfg, o.config);
	} else {
		fprintf(stderr, "ipsnetd: unknown command '%s'\n%s", o.command,
			usage);
		rv = 2;
	}
	ipsnet_free(cfg);
	return rv;
}
