#include "kbs_dm_log.h"
#include <libdevmapper.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static kbs_dm_log_sink current_sink;
static __thread char last_error[512];
static __thread int last_errno;

static void bridge(int level, const char *file, int line, int errno_or_class, const char *format, ...) {
    (void)file; (void)line;
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    int plain = level & 7; /* libdevmapper ORs flags such as _LOG_STDERR into the level */
    if (plain <= 3) {
        snprintf(last_error, sizeof last_error, "%s", message);
        last_errno = errno_or_class;
    }
    if (current_sink) current_sink(plain, errno_or_class, message);
}

void kbs_dm_log_install(kbs_dm_log_sink sink) {
    current_sink = sink;
    dm_log_with_errno_init(bridge);
}

const char *kbs_dm_last_error(void) { return last_error; }
int kbs_dm_last_errno(void) { return last_errno; }
void kbs_dm_clear_error(void) { last_error[0] = 0; last_errno = 0; }
