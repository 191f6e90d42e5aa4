/* ipsnetd: the ipsnet daemon. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#include "alloc.h"
#include "config.h"
#include "ipsnet_errors.h"
#include "log.h"
#include "progress.h"
#include "server.h"
#include "journal.h"
#include "store.h"
#include "tls.h"
#include "util.h"

static const char usage[] =
    "usage: ipsnetd [serve] [--config FILE] [--listen ADDR:PORT] [--log-level "
    "LEVEL]\n"
    "       ipsnetd init [--config FILE]\n"
    "       ipsnetd verify|rebuild [--config FILE] [--database FILE]\n"
    "       ipsnetd backup FILE [--config FILE] [--database FILE]\n"
    "       ipsnetd restore BACKUP [--config FILE] [--database FILE]\n"
    "       ipsnetd reload [--config FILE]\n"
    "       ipsnetd --help | --version\n"
    "\n"
    "commands:\n"
    "  serve   serve clients over mutual TLS (the default)\n"
    "  init    create the database, or bring its schema up to date, and\n"
    "          load the organisation registry from the config\n"
    "  verify  walk the journal's hash chain, rebuild the state in a\n"
    "          scratch database to compare, walk the audit trail's\n"
    "          chain; exit 1 naming the first damaged entry or audit\n"
    "          row, 2 when the database cannot be read\n"
    "  rebuild replay the journal into the state tables (daemon stopped)\n"
    "  backup  copy the database to FILE online, while the daemon serves\n"
    "  restore put BACKUP, verified, in the database's place (daemon\n"
    "          stopped); the database, its -wal and -shm go into\n"
    "          DATABASE.before-restore-TIME/\n"
    "  reload  have the ipsnetd that serves the config's database reload\n"
    "          (SIGHUP) and say how it went: exit 0 reloaded, 1 the\n"
    "          reload failed and the previous settings are kept (or it\n"
    "          was ignored), 2 a config that does not parse, 3 no\n"
    "          ipsnetd serves it or none answered within 60 s\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     read FILE (see deploy/ipsnetd.conf.example);\n"
    "                        without it the embedded defaults of the\n"
    "                        development network under ./var are used\n"
    "  -d, --database FILE   verify, rebuild, back up or restore FILE\n"
    "                        instead of the config's database (verify\n"
    "                        --database BACKUP checks a backup)\n"
    "  -l, --listen ADDR:PORT  listen there instead (port 0: any free port)\n"
    "      --log-level LEVEL debug, info, warn, error or off\n"
    "  -h, --help            this text\n"
    "  -V, --version         the version\n"
    "\n"
    "signals: SIGTERM and SIGINT shut down gracefully; SIGHUP reloads the\n"
    "registry, the certificates, the CRL and the log level (a --log-level\n"
    "given stays).\n";

struct options {
	const char *command;
	const char *argument;
	const char *config;
	const char *database;
	const char *listen;
	const char *log_level;
};

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"database", required_argument, NULL, 'd'},
	    {"listen", required_argument, NULL, 'l'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "c:d:l:hV", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'd':
			o->database = optarg;
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
	if (optind < argc && (strcmp(o->command, "backup") == 0 ||
			      strcmp(o->command, "restore") == 0))
		o->argument = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "ipsnetd: unexpected argument '%s'\n%s",
			argv[optind], usage);
		return IPSNET_EUSAGE;
	}
	/* The daemon and init take their database from the config alone,
	 * where a SIGHUP's reload and the next start find it too. */
	if (o->database != NULL && strcmp(o->command, "verify") != 0 &&
	    strcmp(o->command, "rebuild") != 0 &&
	    strcmp(o->command, "backup") != 0 &&
	    strcmp(o->command, "restore") != 0) {
		fprintf(stderr,
			"ipsnetd: --database is for verify, rebuild, backup "
			"and restore; %s takes the database from the config\n",
			o->command);
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
	if (o->database != NULL) {
		if (strlen(o->database) >= sizeof(cfg->database)) {
			fprintf(stderr,
				"ipsnetd: --database: the file name is longer "
				"than %zu bytes\n",
				sizeof(cfg->database) - 1);
			return IPSNET_ECONFIG;
		}
		util_strlcpy(cfg->database, o->database, sizeof(cfg->database));
	}
	if (o->listen != NULL && config_set_server_key(cfg, "listen", o->listen,
						       err, sizeof(err)) != 0) {
		/* Named as the option's, not the file's. */
		fprintf(stderr, "ipsnetd: --listen: %s\n", err);
		return IPSNET_ECONFIG;
	}
	if (o->log_level != NULL)
		util_strlcpy(cfg->log_level, o->log_level,
			     sizeof(cfg->log_level));
	enum log_level level;
	if (log_level_parse(cfg->log_level, &level) != 0) {
		fprintf(stderr,
			"ipsnetd: log level '%s' is not debug, info, warn, "
			"error or off\n",
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
	/* The folder first: in one that is not there yet store_lock finds
	 * nothing to lock, and two inits would both make the database. */
	if (store_make_folder(cfg->database, err, sizeof(err)) != 0 ||
	    store_lock(cfg->database, err, sizeof(err)) != 0 ||
	    store_init(cfg, err, sizeof(err)) != 0) {
		store_unlock();
		fprintf(stderr, "ipsnetd: %s\n", err);
		return 1;
	}
	char database[2 * CONFIG_MAX_PATH];
	log_info("initialised", "database=%s organisations=%zu",
		 log_quote(database, sizeof(database), cfg->database),
		 cfg->n_orgs);
	return 0;
}

/* The progress of verify, rebuild, backup and restore on a terminal: a bar
 * on stderr for the walk under way, redrawn at most ten times a second. */
struct walk_bar {
	struct journal_progress tell; /* what the walks are given */
	struct progress bar;
	const char *what; /* the walk drawn; NULL before the first */
	uint64_t drawn_us;
};

static void walk_bar_tell(void *arg, const char *what, const char *unit,
			  uint64_t done, uint64_t total)
{
	struct walk_bar *w = arg;
	uint64_t now = util_mono_us();
	if (w->what == NULL || strcmp(w->what, what) != 0) {
		progress_clear(&w->bar);
		progress_init(&w->bar, stderr, what, unit, (size_t)total, now);
		w->what = what;
		w->drawn_us = 0;
	}
	w->bar.done = (size_t)done;
	if (total > w->bar.total)
		w->bar.total = (size_t)total;
	if (done == 0 || done >= w->bar.total || now - w->drawn_us >= 100000) {
		progress_draw(&w->bar, now);
		w->drawn_us = now;
	}
}

/* A progress for the walks when stderr is a terminal, else NULL. */
static const struct journal_progress *walk_bar_start(struct walk_bar *w)
{
	memset(w, 0, sizeof(*w));
	if (!isatty(STDERR_FILENO))
		return NULL;
	w->tell.fn = walk_bar_tell;
	w->tell.arg = w;
	return &w->tell;
}

static void walk_bar_end(struct walk_bar *w)
{
	if (w->what != NULL)
		progress_clear(&w->bar);
}

static int cmd_verify(const struct server_config *cfg)
{
	char err[512];
	struct journal_verify_report r;
	struct walk_bar w;
	int rv = journal_verify(cfg->database, walk_bar_start(&w), &r, err,
				sizeof(err));
	walk_bar_end(&w);
	if (rv != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		return 2;
	}
	if (r.problem[0] != '\0') {
		if (r.first_bad_seq != 0)
			printf("damaged: first damaged seq %llu\n",
			       (unsigned long long)r.first_bad_seq);
		if (r.first_bad_audit_id != 0)
			printf("damaged: first damaged audit row %lld\n",
			       (long long)r.first_bad_audit_id);
		printf("damaged: %s\n", r.problem);
		return 1;
	}
	/* The heads as the daemon's stop logs them (journal_head_hash=,
	 * audit_hash=): a chain cut off at its end is whole, and only those
	 * lines tell. */
	char head[2 * JOURNAL_HASH_BYTES + 1],
	    audit[2 * JOURNAL_HASH_BYTES + 1];
	util_hex(head, sizeof(head), r.head_hash, sizeof(r.head_hash));
	util_hex(audit, sizeof(audit), r.audit_hash, sizeof(r.audit_hash));
	printf("ok: %llu journal entries, hash chain whole",
	       (unsigned long long)r.entries);
	if (r.unsalted > 0)
		printf(" (%llu written before schema 8 have no salt)",
		       (unsigned long long)r.unsalted);
	printf(", state tables match the journal; journal_head_seq=%llu "
	       "journal_head_hash=%s\n",
	       (unsigned long long)r.entries, head);
	printf("ok: %llu audit row%s, hash chain whole",
	       (unsigned long long)r.audit_rows, r.audit_rows == 1 ? "" : "s");
	if (r.audit_unchained > 0)
		printf(" (%llu written before schema 7 have no hash)",
		       (unsigned long long)r.audit_unchained);
	printf("; audit_hash=%s\n", audit);
	if (r.served_seq != 0)
		printf("warning: the journal ends at seq %llu, but a daemon "
		       "had seq %llu in this database (%s.served): entries "
		       "%llu to %llu are gone (a restore from a backup, or "
		       "cut off)\n",
		       (unsigned long long)r.entries,
		       (unsigned long long)r.served_seq, cfg->database,
		       (unsigned long long)r.entries + 1,
		       (unsigned long long)r.served_seq);
	return 0;
}

/* The daemon runs as the database's owner, and takes the lock too: a lock
 * file this command made (run as root, say) is given to that owner, or the
 * next start would be refused it. */
static void give_lock(const struct server_config *cfg)
{
	struct stat st;
	if (stat(cfg->database, &st) != 0 ||
	    store_lock_give(st.st_uid, st.st_gid) != 0)
		fprintf(stderr,
			"ipsnetd: warning: cannot give the lock file '%s.lock' "
			"to the database's owner: %s\n",
			cfg->database, strerror(errno));
}

static int cmd_rebuild(const struct server_config *cfg)
{
	char err[512];
	uint64_t n = 0;
	struct walk_bar w;
	if (store_lock(cfg->database, err, sizeof(err)) != 0) {
		fprintf(stderr,
			"ipsnetd: rebuild refused, nothing changed: %s\n", err);
		return 1;
	}
	int rv = journal_rebuild(cfg->database, walk_bar_start(&w), &n, err,
				 sizeof(err));
	walk_bar_end(&w);
	if (rv != 0) {
		store_unlock();
		fprintf(stderr, "ipsnetd: rebuild failed, nothing changed: %s\n",
			err);
		return 1;
	}
	printf("rebuilt the state tables from %llu journal entries\n",
	       (unsigned long long)n);
	give_lock(cfg);
	return 0;
}

/* How long `ipsnetd reload` waits for the daemon's answer, and how often it
 * looks. A reload reads the config, the certificates and the CRL and
 * writes the registry: a second, unless the database is busy. */
#define RELOAD_WAIT_MS 60000
#define RELOAD_POLL_MS 20

/* Sends SIGHUP to the ipsnetd that serves cfg's database (the pid in
 * its reload note, holding the database's lock) and waits for the note of
 * a reload that began after it: what systemctl reload runs, so that a
 * reload that failed is a failure there too (the signal alone succeeds
 * whatever the daemon makes of it). */
static int cmd_reload(const struct server_config *cfg)
{
	struct reload_note n;
	long holder = 0;
	if (server__reload_note_read(cfg->database, &n) != 0 &&
	    errno != ENOENT && errno != EINVAL) {
		fprintf(stderr,
			"ipsnetd: cannot read '%s%s': %s (run this as the "
			"daemon's user or root)\n",
			cfg->database, RELOAD_NOTE_SUFFIX, strerror(errno));
		return 3;
	}
	if (n.pid <= 0 || store_lock_holder(cfg->database, &holder) != 1 ||
	    holder != n.pid) {
		fprintf(stderr,
			"ipsnetd: no ipsnetd serves '%s'; nothing to reload "
			"(start it: ipsnetd serve, or systemctl start "
			"ipsnetd)\n",
			cfg->database);
		return 3;
	}
	uint64_t asked = util_mono_us();
	long pid = n.pid;
	if (kill((pid_t)pid, SIGHUP) != 0) {
		fprintf(stderr,
			"ipsnetd: cannot signal ipsnetd (pid %ld): %s\n", pid,
			strerror(errno));
		return 3;
	}
	for (;;) {
		if (server__reload_note_read(cfg->database, &n) == 0 &&
		    n.pid == pid && n.began_us >= asked)
			break;
		if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
			fprintf(stderr,
				"ipsnetd: ipsnetd (pid %ld) ended before it "
				"said how the reload went\n",
				pid);
			return 3;
		}
		if (util_mono_us() - asked >= RELOAD_WAIT_MS * 1000ull) {
			fprintf(stderr,
				"ipsnetd: ipsnetd (pid %ld) did not say within "
				"%d s how the reload went; its log does\n",
				pid, RELOAD_WAIT_MS / 1000);
			return 3;
		}
		nanosleep(&(struct timespec){0, RELOAD_POLL_MS * 1000000L},
			  NULL);
	}
	if (strcmp(n.result, "ok") == 0) {
		printf("ipsnetd: reloaded (pid %ld): %s\n", pid, n.message);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	fprintf(stderr, "ipsnetd: reload %s (pid %ld): %s\n",
		strcmp(n.result, "ignored") == 0 ? "ignored" : "failed", pid,
		n.message);
	return 1;
}

static int cmd_backup(const struct server_config *cfg, const char *dest)
{
	char err[512];
	if (dest == NULL) {
		fprintf(stderr, "ipsnetd: backup needs a FILE to write\n%s",
			usage);
		return 2;
	}
	struct walk_bar w;
	int rv = journal_backup(cfg->database, dest, walk_bar_start(&w), err,
				sizeof(err));
	walk_bar_end(&w);
	if (rv != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		return 1;
	}
	printf("backed up %s to %s\n", cfg->database, dest);
	return 0;
}

static int cmd_restore(const struct server_config *cfg, const char *backup)
{
	char err[1024];
	struct journal_restore_report r;
	if (backup == NULL) {
		fprintf(stderr,
			"ipsnetd: restore needs the BACKUP to restore\n%s",
			usage);
		return 2;
	}
	/* The daemon, an init or a rebuild on the database: not under them. */
	if (store_lock(cfg->database, err, sizeof(err)) != 0) {
		fprintf(stderr,
			"ipsnetd: restore refused, nothing changed: %s\n", err);
		return 1;
	}
	struct walk_bar w;
	int rv = journal_restore(cfg->database, backup, walk_bar_start(&w), &r,
				 err, sizeof(err));
	walk_bar_end(&w);
	if (rv != 0) {
		store_unlock();
		fprintf(stderr, "ipsnetd: restore %s: %s\n",
			r.changed ? "failed" : "refused, nothing changed", err);
		return 1;
	}
	give_lock(cfg);
	char aside[sizeof(r.aside) + 160];
	if (r.aside[0] != '\0')
		snprintf(aside, sizeof(aside),
			 "the files it replaced are in %s/ (the audit trail "
			 "since the backup, personal data: keep them)",
			 r.aside);
	else
		snprintf(aside, sizeof(aside),
			 "there was no database to replace");
	printf("restored %s to %s, journal head seq %llu; %s;%s mirrors and "
	       "subscribers that got entries after seq %llu are refused (exit "
	       "6) and must start again from seq 0 with a new mirror file "
	       "(see README, Restoring a backup)\n",
	       backup, cfg->database, (unsigned long long)r.head_seq, aside,
	       r.stale > 0 ? " the copy a restore that was stopped had left is "
			     "removed;"
			   : "",
	       (unsigned long long)r.head_seq);
	return 0;
}

/* Descriptors the daemon needs besides its connections: the database's
 * connections and their WAL files, the loop's, the listener, stdio. */
#define OPEN_FILES_RESERVE 64

/* Every connection holds a descriptor, and one accepted beyond the limit on
 * open files is closed by libuv without a word. The soft limit a service
 * inherits is often 1024 or less: raise it as far as the hard limit allows,
 * so that max_connections decides, and say so when it cannot. */
static void raise_open_files_limit(uint32_t max_connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_connections + OPEN_FILES_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want
			  ? rl.rlim_max
			  : want;
	if (rl.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &rl) != 0)
		rl.rlim_cur = was;
	if (rl.rlim_cur < want)
		log_warn("open files limit below max_connections",
			 "limit=%llu max_connections=%u detail=\"connections "
			 "beyond the limit are refused without a log line; "
			 "raise the hard limit (LimitNOFILE) or lower "
			 "max_connections\"",
			 (unsigned long long)rl.rlim_cur, max_connections);
}

/* The signals the server acts on, held from the start of `serve` in this
 * thread and so in every thread it starts: none of them ends the daemon
 * by its default action (a SIGHUP while a large journal's chain is
 * checked would) or runs a handler on any thread. The loop reads them
 * from a signalfd (server.c). */
static void hold_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* The config's organisations, changed since the database's registry was
 * written (by init or a reload), are taken at a start as a reload takes
 * them: an operator who edits the file and restarts gets what it says.
 * *registry is the database's; it becomes the config's. */
static int take_the_configs_registry(const struct server_config *cfg,
				     struct registry *registry, char *err,
				     size_t errlen)
{
	struct registry now;
	char diff[512];
	int rv = store_update_registry(cfg, err, errlen);
	if (rv == 0)
		rv = store_load_registry(cfg->database, &now, err, errlen);
	if (rv != 0) {
		registry_free(registry);
		return rv;
	}
	registry_diff(registry, &now, diff, sizeof(diff));
	registry_free(registry);
	*registry = now;
	log_info("registry updated from the config", "organisations=%zu %s",
		 now.n, diff);
	return 0;
}

static int cmd_serve(const struct server_config *cfg, const char *config_path,
		     bool log_level_given, bool listen_given)
{
	char err[512];
	struct registry registry;
	SSL_CTX *tls;
	struct server server;
	struct journal *journal;
	uv_loop_t loop;
	int rv;

	raise_open_files_limit(cfg->max_connections);
	/* Exit 2 for what only a person can set right (a database not made
	 * or not the daemon's to read, certificates that cannot be had): the
	 * systemd unit does not start again after it, every 5 s for ever. */
	rv = store_lock(cfg->database, err, sizeof(err));
	if (rv == 0)
		rv = store_load_registry(cfg->database, &registry, err,
					 sizeof(err));
	if (rv != 0) {
		store_unlock();
		fprintf(stderr, "ipsnetd: %s\n", err);
		return rv == IPSNET_ECONFIG ? 2 : 1;
	}
	struct tls_ctx_opts o = {
	    .server = true,
	    .ca = cfg->ca,
	    .cert = cfg->cert,
	    .key = cfg->key,
	    .crl = cfg->crl,
	    .min_version = cfg->tls_min_version,
	};
	if ((rv = tls_ctx_new(&tls, &o, err, sizeof(err))) != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		/* A certificate or CRL out of its time: a renewal (by a timer,
		 * say) sets it right, and a start after it serves. */
		rv = rv == IPSNET_ECERT ? 1 : 2;
		goto err_after_registry;
	}
	if ((rv = server__crl_check(cfg->database, NULL, tls, cfg->crl, err,
				    sizeof(err))) != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		rv = 2;
		goto err_after_tls;
	}
	/* Every file is checked before the registry is written, as at a
	 * reload: a start refused changes nothing in the database. */
	if (!registry_is_config(&registry, cfg) &&
	    (rv = take_the_configs_registry(cfg, &registry, err,
					    sizeof(err))) != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		rv = rv == IPSNET_ECONFIG ? 2 : 1;
		goto err_after_tls;
	}
	server__crl_note(cfg->database, tls);
	if (cfg->crl[0] == '\0')
		log_warn("no CRL configured",
			 "detail=\"revoked certificates are not refused\"");
	server__warn_if_others_read(cfg->key);
	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "ipsnetd: cannot start the event loop\n");
		rv = 1;
		goto err_after_tls;
	}
	if (journal_open(&journal, &loop, cfg->database, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		rv = 1;
		goto err_after_loop;
	}
	journal_set_answer_limit(journal, cfg->max_frame_bytes);
	store_say_restore_copies(cfg->database);
	if (server__start(&server, &loop, cfg, config_path, tls, &registry,
			  journal, err, sizeof(err)) != 0) {
		fprintf(stderr, "ipsnetd: %s\n", err);
		rv = 1;
		goto err_after_journal;
	}
	server.log_level_given = log_level_given;
	server.listen_given = listen_given;
	/* The signals stay held: the loop reads them from a signalfd
	 * (server.c), those that came meanwhile at its first turn. */
	/* From here the server owns tls and registry. */
	uv_run(&loop, UV_RUN_DEFAULT);
	rv = server.exit_code;
	sync_free(server.sync);
	journal_free(journal);
	SSL_CTX_free(server.tls);
	registry_free(&server.registry);
	if (uv_loop_close(&loop) != 0) {
		log_error("event loop not empty at exit", "detail=\"bug\"");
		rv = 1;
	}
	return rv;

err_after_journal:
	journal_close_handle(journal);
	uv_run(&loop, UV_RUN_NOWAIT);
	journal_free(journal);
err_after_loop:
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_loop_close(&loop);
err_after_tls:
	SSL_CTX_free(tls);
err_after_registry:
	registry_free(&registry);
	store_unlock();
	return rv;
}

int main(int argc, char **argv)
{
	struct options o;
	struct server_config *cfg;
	int rv;

	signal(SIGPIPE, SIG_IGN);
	/* SQLite's memory statistics take a global mutex on every allocation,
	 * which the writer, readers and checkpointer would share; nothing
	 * here reads them. Before SQLite is first used. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	if (strcmp(o.command, "serve") == 0)
		hold_signals();
	cfg = ipsnet_malloc(sizeof(*cfg));
	if (cfg == NULL)
		return 1;
	if (load_config(&o, cfg) != 0) {
		config_free(cfg);
		ipsnet_free(cfg);
		return 2;
	}
	if (strcmp(o.command, "init") == 0) {
		rv = cmd_init(cfg);
	} else if (strcmp(o.command, "verify") == 0) {
		rv = cmd_verify(cfg);
	} else if (strcmp(o.command, "rebuild") == 0) {
		rv = cmd_rebuild(cfg);
	} else if (strcmp(o.command, "backup") == 0) {
		rv = cmd_backup(cfg, o.argument);
	} else if (strcmp(o.command, "restore") == 0) {
		rv = cmd_restore(cfg, o.argument);
	} else if (strcmp(o.command, "reload") == 0) {
		rv = cmd_reload(cfg);
	} else if (strcmp(o.command, "serve") == 0) {
		rv = cmd_serve(cfg, o.config, o.log_level != NULL,
			       o.listen != NULL);
	} else {
		fprintf(stderr, "ipsnetd: unknown command '%s'\n%s", o.command,
			usage);
		rv = 2;
	}
	config_free(cfg);
	ipsnet_free(cfg);
	return rv;
}
