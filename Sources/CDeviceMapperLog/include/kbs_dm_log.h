#ifndef KBS_DM_LOG_H
#define KBS_DM_LOG_H
/* libdevmapper reports through a printf-style variadic callback, which Swift cannot implement.
 * This bridge formats each message and hands it to a plain C function pointer (set from Swift),
 * and keeps the last error message of the calling thread so a failed call can say why. */

/* level: libdevmapper's log level (3 = error, 4 = warning, 7 = debug); errno_or_class: the errno of an error. */
typedef void (*kbs_dm_log_sink)(int level, int errno_or_class, const char *message);

/* Routes libdevmapper's log through `sink` (NULL: drop everything except the last-error buffer). */
void kbs_dm_log_install(kbs_dm_log_sink sink);

/* The last error message libdevmapper logged on this thread ("" when none); cleared by kbs_dm_clear_error. */
const char *kbs_dm_last_error(void);
int kbs_dm_last_errno(void);
void kbs_dm_clear_error(void);
#endif
