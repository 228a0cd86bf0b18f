#include "CSQLite.h"

int mc_sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text, int length) {
    return sqlite3_bind_text(stmt, index, text, length, SQLITE_TRANSIENT);
}

int mc_sqlite_bind_blob(sqlite3_stmt *stmt, int index, const void *bytes, int length) {
    return sqlite3_bind_blob(stmt, index, bytes, length, SQLITE_TRANSIENT);
}

int mc_sqlite_configure(void) {
    /* Memory statistics take a global mutex on every allocation; nothing reads them. Must run
       before the library initialises (the first open). */
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
