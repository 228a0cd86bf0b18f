/* The system SQLite (Debian libsqlite3-dev), with helpers for what Swift cannot call. */
#ifndef CSQLITE_H
#define CSQLITE_H
#include <sqlite3.h>

/* Binds a copy of the bytes (SQLITE_TRANSIENT). */
int mc_sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text, int length);
int mc_sqlite_bind_blob(sqlite3_stmt *stmt, int index, const void *bytes, int length);
/* Turns SQLite's memory statistics off (a global mutex per allocation); call before the
   first open. Returns SQLITE_OK, or SQLITE_MISUSE once the library has initialised. */
int mc_sqlite_configure(void);
#endif
