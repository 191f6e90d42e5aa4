/* The writer's WAL writes, gathered: see walbuf.h. */
#include "walbuf.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"

/* Enough for a batch of 256 changes (about 5 KiB of frames each); a bigger
 * one is written in parts. */
#define WALBUF_BYTES (1024 * 1024)
#define WALBUF_WRITE_MAX (124 * 1024)

struct walbuf_vfs {
	sqlite3_vfs vfs; /* first: SQLite's handle is a pointer to it */
	sqlite3_vfs *base;
	char name[48];
};

/* Writes of [start, start + len) wait in buf, in the order given: a later
 * write over an earlier one replaces it, so that the file ends as if each
 * had been written at once. */
struct wal_file {
	sqlite3_file file;  /* pMethods: wal_io */
	sqlite3_file *real; /* the base VFS's file, right behind this struct */
	unsigned char *buf; /* WALBUF_BYTES, at the first write */
	sqlite3_int64 start;
	size_t len;
	/* Where SQLite's last write ended: at the sync of a commit, the end of
	 * its frame that commits (wal_sync). */
	sqlite3_int64 last_end;
};

static struct wal_file *wal_of(sqlite3_file *f)
{
	return (struct wal_file *)f;
}

static const sqlite3_io_methods *real_io(struct wal_file *w)
{
	return w->real->pMethods;
}

/* Hands what waits to the file, in parts: the unix VFS writes at most
 * 0x1ffff bytes a call and says SQLITE_FULL of a longer write. What a
 * failed write leaves keeps waiting and goes with the next flush: the
 * error fails the call that flushed (SQLite may go on after some, a size
 * hint, a failed read in a statement), and the sync of a commit cannot
 * succeed without it. Frames left by a transaction that failed lie past
 * the WAL's end, as SQLite leaves its own; only a write and a sync drop
 * them, as SQLite has given up what is left then (wal_write, wal_sync). */
static int flush(struct wal_file *w)
{
	size_t done = 0;
	int rc = SQLITE_OK;
	while (done < w->len && rc == SQLITE_OK) {
		size_t n = w->len - done < WALBUF_WRITE_MAX ? w->len - done
							    : WALBUF_WRITE_MAX;
		rc = real_io(w)->xWrite(w->real, w->buf + done, (int)n,
					w->start + (sqlite3_int64)done);
		if (rc == SQLITE_OK)
			done += n;
	}
	w->len -= done;
	w->start += (sqlite3_int64)done;
	if (w->len > 0 && done > 0)
		memmove(w->buf, w->buf + done, w->len);
	return rc;
}

static int wal_close(sqlite3_file *f)
{
	struct wal_file *w = wal_of(f);
	int rc = flush(w);
	int close_rc = real_io(w)->xClose(w->real);
	ipsnet_free(w->buf);
	w->buf = NULL;
	return rc != SQLITE_OK ? rc : close_rc;
}

static int wal_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	struct wal_file *w = wal_of(f);
	int rc = flush(w);
	if (rc != SQLITE_OK)
		return rc;
	return real_io(w)->xRead(w->real, p, n, off);
}

static int wal_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	struct wal_file *w = wal_of(f);
	sqlite3_int64 end = w->start + (sqlite3_int64)w->len;
	w->last_end = off + n;
	if (w->len > 0 && off >= w->start && off + n <= end) {
		memcpy(w->buf + (off - w->start), p, (size_t)n);
		return SQLITE_OK;
	}
	if (w->len > 0 && (off != end || w->len + (size_t)n > WALBUF_BYTES)) {
		int rc = flush(w);
		if (rc != SQLITE_OK) {
			/* SQLite gives up the transaction after any failed
			 * write of the WAL (the pager refuses all else until
			 * the rollback, a failed commit is rolled back): what
			 * waits is not wanted again. Kept, it had to reach the
			 * file before the next transaction's first frame, and
			 * failed that one too while the disk was full, where
			 * SQLite writes it over frames already in the file. */
			w->len = 0;
			return rc;
		}
	}
	if (w->buf == NULL && n <= WALBUF_BYTES)
		w->buf = ipsnet_malloc(WALBUF_BYTES);
	if (w->buf == NULL || n > WALBUF_BYTES)
		return real_io(w)->xWrite(w->real, p, n, off);
	if (w->len == 0)
		w->start = off;
	memcpy(w->buf + w->len, p, (size_t)n);
	w->len += (size_t)n;
	return SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct wal_file *w = wal_of(f);
	int rc = flush(w);
	if (rc != SQLITE_OK)
		return rc;
	return real_io(w)->xTruncate(w->real, size);
}

/* A commit's frame is the last thing SQLite writes before the sync that
 * makes it durable. What waits past it is not wanted: frames of a
 * savepoint rolled back, or of a transaction that failed, which SQLite then
 * wrote over from an earlier frame on (it goes on from its last frame that
 * counts). Those are dropped, not written behind the commit frame: on a
 * full disk their write would fail the commit after the part holding its
 * frame was in the file, and a crash's recovery would bring back changes
 * answered "nothing was changed".
 *
 * What a failed write leaves at a sync is dropped too, not kept for the
 * next flush: it holds the frame that commits, and written later, once the
 * disk has room, it would put the failed transaction whole behind the
 * WAL's last commit, where the recovery after a crash takes it back.
 * SQLite rolls back a transaction whose commit failed, and writes the next
 * one from the WAL's end. */
static int wal_sync(sqlite3_file *f, int flags)
{
	struct wal_file *w = wal_of(f);
	if (w->len > 0 && w->last_end > w->start &&
	    w->last_end < w->start + (sqlite3_int64)w->len)
		w->len = (size_t)(w->last_end - w->start);
	int rc = flush(w);
	if (rc != SQLITE_OK) {
		w->len = 0;
		return rc;
	}
	return real_io(w)->xSync(w->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct wal_file *w = wal_of(f);
	int rc = flush(w);
	if (rc != SQLITE_OK)
		return rc;
	return real_io(w)->xFileSize(w->real, size);
}

static int wal_lock(sqlite3_file *f, int level)
{
	return real_io(wal_of(f))->xLock(wal_of(f)->real, level);
}

static int wal_unlock(sqlite3_file *f, int level)
{
	return real_io(wal_of(f))->xUnlock(wal_of(f)->real, level);
}

static int wal_check_reserved(sqlite3_file *f, int *out)
{
	return real_io(wal_of(f))->xCheckReservedLock(wal_of(f)->real, out);
}

/* A file control may act on the file's size or contents (a size hint, a
 * chunk size): it sees them whole. */
static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
	struct wal_file *w = wal_of(f);
	int rc = flush(w);
	if (rc != SQLITE_OK)
		return rc;
	return real_io(w)->xFileControl(w->real, op, arg);
}

static int wal_sector_size(sqlite3_file *f)
{
	return real_io(wal_of(f))->xSectorSize(wal_of(f)->real);
}

static int wal_device_characteristics(sqlite3_file *f)
{
	return real_io(wal_of(f))->xDeviceCharacteristics(wal_of(f)->real);
}

/* Version 1: SQLite maps and locks shared memory through the database
 * file and maps only the database file (WAL-index and mmap), never the
 * WAL, so a WAL file needs none of version 2's and 3's methods. */
static const sqlite3_io_methods wal_io = {
    .iVersion = 1,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device_characteristics,
};

/* A WAL file gets the wrapper; any other file is the base VFS's own, in
 * the same memory (szOsFile covers both). */
static int walbuf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
		       int flags, int *out_flags)
{
	sqlite3_vfs *base = ((struct walbuf_vfs *)vfs)->base;
	if ((flags & SQLITE_OPEN_WAL) == 0)
		return base->xOpen(base, name, f, flags, out_flags);
	struct wal_file *w = wal_of(f);
	*w = (struct wal_file){.real = (sqlite3_file *)(w + 1)};
	int rc = base->xOpen(base, name, w->real, flags, out_flags);
	/* SQLite calls xClose whenever pMethods is set, even after a failed
	 * open. */
	w->file.pMethods = w->real->pMethods != NULL ? &wal_io : NULL;
	return rc;
}

sqlite3_vfs *walbuf_new(void)
{
	sqlite3_vfs *base = sqlite3_vfs_find(NULL);
	if (base == NULL)
		return NULL;
	struct walbuf_vfs *v = ipsnet_calloc(1, sizeof(*v));
	if (v == NULL)
		return NULL;
	snprintf(v->name, sizeof(v->name), "ipsnet-walbuf-%p", (void *)v);
	v->base = base;
	/* The base's own methods, which get this VFS (with the base's
	 * pAppData) in place of the base: the unix VFS reads neither but in
	 * xOpen, which is ours. */
	v->vfs = *base;
	v->vfs.pNext = NULL;
	v->vfs.zName = v->name;
	v->vfs.szOsFile = (int)sizeof(struct wal_file) + base->szOsFile;
	v->vfs.xOpen = walbuf_open;
	if (sqlite3_vfs_register(&v->vfs, 0) != SQLITE_OK) {
		ipsnet_free(v);
		return NULL;
	}
	return &v->vfs;
}

const char *walbuf_name(const sqlite3_vfs *v)
{
	return v->zName;
}

void walbuf_free(sqlite3_vfs *v)
{
	if (v == NULL)
		return;
	sqlite3_vfs_unregister(v);
	ipsnet_free(v);
}
