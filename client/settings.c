/* Where the client's settings come from: a profile file, then IPSNET_*
 * environment variables; the command's flags go on top. */
#include <pwd.h>
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

static int find_profile(const char *name, char *path, size_t cap)
{
	const char *dir;
	if (strchr(name, '/') != NULL) {
		util_strlcpy(path, name, cap);
		return readable(path) ? 0 : -1;
	}
	if ((dir = getenv("IPSNET_PROFILE_DIR")) != NULL && dir[0] != '\0') {
		snprintf(path, cap, "%s/%s.ini", dir, name);
		if (readable(path))
			return 0;
	}
	if ((dir = getenv("XDG_CONFIG_HOME")) != NULL && dir[0] != '\0') {
		snprintf(path, cap, "%s/ipsnet/profiles/%s.ini", dir, name);
		if (readable(path))
			return 0;
	} else if ((dir = getenv("HOME")) != NULL && dir[0] != '\0') {
		snprintf(path, cap, "%s/.config/ipsnet/profiles/%s.ini", dir,
			 name);
		if (readable(path))
			return 0;
	}
	snprintf(path, cap, "var/dev/profiles/%s.ini", name);
	return readable(path) ? 0 : -1;
}

static void from_env(char *dst, size_t cap, const char *var)
{
	const char *v = getenv(var);
	if (v != NULL && v[0] != '\0')
		util_strlcpy(dst, v, cap);
}

int ipsnet_settings_load(struct ipsnet_settings *s, const char *profile,
			 char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	util_strlcpy(s->server, "127.0.0.1:7443", sizeof(s->server));
	from_env(s->user, sizeof(s->user), "USER");
	if (s->user[0] == '\0') {
		/* No $USER (cron, a service): the account's own name, so
		 * that the audit trail still says who. */
		const struct passwd *pw = getpwuid(geteuid());
		if (pw != NULL && pw->pw_name != NULL)
			util_strlcpy(s->user, pw->pw_name, sizeof(s->user));
	}
	if (profile == NULL || profile[0] == '\0')
		profile = getenv("IPSNET_PROFILE");
	if (profile != NULL && profile[0] != '\0') {
		struct client_profile p;
		if (find_profile(profile, s->profile_path,
				 sizeof(s->profile_path)) != 0) {
			snprintf(err, errlen,
				 "no profile '%s' (looked in "
				 "$IPSNET_PROFILE_DIR, ~/.config/ipsnet/"
				 "profiles and ./var/dev/profiles)",
				 profile);
			return IPSNET_EUSAGE;
		}
		memset(&p, 0, sizeof(p));
		util_strlcpy(p.server, s->server, sizeof(p.server));
		util_strlcpy(p.user, s->user, sizeof(p.user));
		int rv = profile_load(&p, s->profile_path, err, errlen);
		if (rv != 0)
			return IPSNET_EUSAGE;
		util_strlcpy(s->server, p.server, sizeof(s->server));
		util_strlcpy(s->ca, p.ca, sizeof(s->ca));
		util_strlcpy(s->cert, p.cert, sizeof(s->cert));
		util_strlcpy(s->key, p.key, sizeof(s->key));
		util_strlcpy(s->user, p.user, sizeof(s->user));
	}
	from_env(s->server, sizeof(s->server), "IPSNET_SERVER");
	from_env(s->ca, sizeof(s->ca), "IPSNET_CA");
	from_env(s->cert, sizeof(s->cert), "IPSNET_CERT");
	from_env(s->key, sizeof(s->key), "IPSNET_KEY");
	from_env(s->user, sizeof(s->user), "IPSNET_USER");
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
