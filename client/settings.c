/* Where the client's settings come from: a profile file, then IPSNET_*
 * environment variables; the command's flags go on top. */
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ipsnet.h"
#include "util.h"

static bool readable(const char *path)
{
	return access(path, R_OK) == 0;
}

/* Copies value, the setting what, into dst; a value too long for it is an
 * error, not cut: a cut path may name another file, a cut user puts
 * someone else in the audit trail. noun says what the setting holds. */
static int take(char *dst, size_t cap, const char *value, const char *what,
		const char *noun, char *err, size_t errlen)
{
	size_t n = strlen(value);
	if (n >= cap) {
		snprintf(err, errlen,
			 "%s is %zu bytes long; %s may be at most %zu bytes",
			 what, n, noun, cap - 1);
		return IPSNET_EUSAGE;
	}
	memcpy(dst, value, n + 1);
	return 0;
}

/* Whether the profile file made from fmt fits in path and can be read: 0
 * when it can, 1 when it is not there (err then lists it among the files
 * looked for), or the error of a path too long (where says where it was
 * looked for) or of a file there that cannot be read. */
static int try_profile(char *path, size_t cap, const char *where, char *err,
		       size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int try_profile(char *path, size_t cap, const char *where, char *err,
		       size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(path, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, errlen,
			 "the profile's path%s is %d bytes long; a file name "
			 "may be at most %zu bytes",
			 where, n, cap - 1);
		return IPSNET_EUSAGE;
	}
	if (readable(path))
		return 0;
	/* Only a file that is not there sends the search on: one there that
	 * cannot be read is not passed over for another of that name. */
	if (errno != ENOENT && errno != ENOTDIR) {
		snprintf(err, errlen, "cannot read profile '%s': %s", path,
			 strerror(errno));
		return IPSNET_EUSAGE;
	}
	size_t used = strlen(err);
	if (used + 1 < errlen)
		snprintf(err + used, errlen - used, "%s%s",
			 used > 0 ? ", " : "", path);
	return 1;
}

/* A development profile is looked for in the current folder, which may be
 * anyone's (/tmp): one put there by another user would send the caller's
 * requests, and personal data with them, to the server it names. Whether
 * the file and its folder are the caller's (or root's) and writable by
 * nobody else; if not, err says so. */
static bool ours_here(const char *path, char *err, size_t errlen)
{
	const char *const what[] = {path, "var/dev/profiles"};
	for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
		struct stat st;
		if (stat(what[i], &st) != 0) {
			snprintf(err, errlen, "cannot read profile '%s': %s",
				 path, strerror(errno));
			return false;
		}
		if ((st.st_uid != geteuid() && st.st_uid != 0) ||
		    (st.st_mode & 022) != 0) {
			snprintf(err, errlen,
				 "profile '%s' (in the current folder) is not "
				 "used: '%s' %s; run ipsnet from your own "
				 "folder, or name the profile by its path",
				 path, what[i],
				 (st.st_mode & 022) != 0
				     ? "may be written by others"
				     : "belongs to another user");
			return false;
		}
	}
	return true;
}

/* 0, 1 when there is no such profile (err then lists the files looked
 * for), or an error (err says why). */
static int find_profile(const char *name, char *path, size_t cap, char *err,
			size_t errlen)
{
	err[0] = '\0';
	const char *dir;
	int rv;
	if (strchr(name, '/') != NULL)
		return try_profile(path, cap, "", err, errlen, "%s", name);
	if ((dir = getenv("IPSNET_PROFILE_DIR")) != NULL && dir[0] != '\0' &&
	    (rv = try_profile(path, cap, " in $IPSNET_PROFILE_DIR", err, errlen,
			      "%s/%s.ini", dir, name)) != 1)
		return rv;
	if ((dir = getenv("XDG_CONFIG_HOME")) != NULL && dir[0] != '\0') {
		if ((rv = try_profile(path, cap, " in $XDG_CONFIG_HOME", err,
				      errlen, "%s/ipsnet/profiles/%s.ini", dir,
				      name)) != 1)
			return rv;
	} else {
		/* cron and a service may start us without $HOME: the
		 * account still has its home folder. */
		const char *home = getenv("HOME");
		const char *where = home != NULL && home[0] != '\0'
					? " in $HOME"
					: " in the account's home folder";
		if ((dir = config_home_folder()) != NULL &&
		    (rv = try_profile(path, cap, where, err, errlen,
				      "%s/.config/ipsnet/profiles/%s.ini", dir,
				      name)) != 1)
			return rv;
	}
	rv = try_profile(path, cap, " in ./var/dev/profiles", err, errlen,
			 "var/dev/profiles/%s.ini", name);
	if (rv == 0 && !ours_here(path, err, errlen))
		return IPSNET_EUSAGE;
	return rv;
}

static int from_env(char *dst, size_t cap, const char *var, const char *noun,
		    char *err, size_t errlen)
{
	const char *v = getenv(var);
	if (v == NULL || v[0] == '\0')
		return 0;
	return take(dst, cap, v, var, noun, err, errlen);
}

int ipsnet_settings_load(struct ipsnet_settings *s, const char *profile,
			 char *err, size_t errlen)
{
	static const char user_noun[] = "the user (whom the audit trail names)";
	static const char file_noun[] = "a file name";
	int rv;
	memset(s, 0, sizeof(*s));
	util_strlcpy(s->server, "127.0.0.1:7443", sizeof(s->server));
	if (profile == NULL || profile[0] == '\0')
		profile = getenv("IPSNET_PROFILE");
	if (profile != NULL && profile[0] != '\0') {
		struct client_profile p;
		rv = find_profile(profile, s->profile_path,
				  sizeof(s->profile_path), err, errlen);
		if (rv < 0)
			return rv;
		if (rv != 0) {
			char tried[512];
			util_strlcpy(tried, err, sizeof(tried));
			snprintf(err, errlen, "no profile '%s': cannot read %s",
				 profile, tried);
			return IPSNET_EUSAGE;
		}
		memset(&p, 0, sizeof(p));
		util_strlcpy(p.server, s->server, sizeof(p.server));
		rv = profile_load(&p, s->profile_path, err, errlen);
		if (rv != 0)
			return IPSNET_EUSAGE;
		/* profile_load keeps to the same sizes */
		util_strlcpy(s->server, p.server, sizeof(s->server));
		util_strlcpy(s->ca, p.ca, sizeof(s->ca));
		util_strlcpy(s->cert, p.cert, sizeof(s->cert));
		util_strlcpy(s->key, p.key, sizeof(s->key));
		util_strlcpy(s->user, p.user, sizeof(s->user));
	}
	if ((rv = from_env(s->server, sizeof(s->server), "IPSNET_SERVER",
			   "the server's HOST:PORT", err, errlen)) != 0 ||
	    (rv = from_env(s->ca, sizeof(s->ca), "IPSNET_CA", file_noun, err,
			   errlen)) != 0 ||
	    (rv = from_env(s->cert, sizeof(s->cert), "IPSNET_CERT", file_noun,
			   err, errlen)) != 0 ||
	    (rv = from_env(s->key, sizeof(s->key), "IPSNET_KEY", file_noun, err,
			   errlen)) != 0 ||
	    (rv = from_env(s->user, sizeof(s->user), "IPSNET_USER", user_noun,
			   err, errlen)) != 0)
		return rv;
	if (s->user[0] != '\0')
		return 0;
	/* $USER only when nothing else names the user; without it (cron, a
	 * service) the account's own name, so that the audit trail still
	 * says who. */
	const char *v = getenv("USER");
	if (v != NULL && v[0] != '\0') {
		rv = take(s->user, sizeof(s->user), v, "$USER", user_noun, err,
			  errlen);
		if (rv != 0 && strlen(err) + 1 < errlen)
			snprintf(err + strlen(err), errlen - strlen(err),
				 "; name the user with IPSNET_USER or the "
				 "profile's user");
		return rv;
	}
	const struct passwd *pw = getpwuid(geteuid());
	if (pw != NULL && pw->pw_name != NULL)
		return take(s->user, sizeof(s->user), pw->pw_name,
			    "the account's name", user_noun, err, errlen);
	return 0;
}

struct ipsnet_options ipsnet_settings_options(const struct ipsnet_settings *s)
{
	struct ipsnet_options o = {
	    .server = s->server,
	    .ca = s->ca[0] != '\0' ? s->ca : NULL,
	    .cert = s->cert[0] != '\0' ? s->cert : NULL,
	    .key = s->key[0] != '\0' ? s->key : NULL,
	    .user = s->user,
	};
	return o;
}
