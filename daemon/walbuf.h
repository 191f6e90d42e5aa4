/* A SQLite VFS for the journal's writer: the default VFS, except that the
 * writes to a WAL file gather in memory and reach the file in one write,
 * just before the sync that makes them durable.
 *
 * SQLite writes a commit's WAL frames two write(2) calls a frame (the
 * frame's header, then its page). On a virtual machine a system call is
 * dear: a batch of 30 frames then costs more in writes than in its
 * fdatasync. Here a batch is one pwrite(2) and one fdatasync.
 *
 * What reaches the disk, and in what order, does not change: SQLite tells
 * other connections of frames only after the sync, and every read, size,
 * truncate, sync and close of the WAL writes out what waits first. That
 * holds for a connection that syncs every commit, as the writer does
 * (synchronous=FULL); a connection with synchronous=NORMAL or OFF must not
 * use this VFS. Files other than WAL files are the default VFS's own.
 *
 * Only frames SQLite no longer wants are dropped unwritten: those past a
 * commit's last frame at its sync (written behind it, their failure on a
 * full disk would fail a commit already in the file), and what waits when
 * a write or a sync fails, as SQLite then gives the transaction up. */
#ifndef IPSNETD_WALBUF_H
#define IPSNETD_WALBUF_H

#include <sqlite3.h>

/* Registers a new VFS (not the default) over the default one of now, under
 * a name of its own: open with sqlite3_open_v2(..., walbuf_name(v)). NULL
 * when out of memory or SQLite refuses. */
sqlite3_vfs *walbuf_new(void);

const char *walbuf_name(const sqlite3_vfs *v);

/* Unregisters and frees v, after every connection that uses it has closed.
 * NULL is fine. */
void walbuf_free(sqlite3_vfs *v);

#endif
