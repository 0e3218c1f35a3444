#ifndef KBS_CDEVICEMAPPER_SHIM_H
#define KBS_CDEVICEMAPPER_SHIM_H
#include <libdevmapper.h>
#include <stdint.h>

/* Kernel driver version as "major.minor.patch", or 0 when device-mapper is absent. */
static inline int kbs_dm_driver_version(char *buf, size_t len) {
    struct dm_task *t = dm_task_create(DM_DEVICE_VERSION);
    if (!t) return 0;
    int ok = dm_task_run(t) && dm_task_get_driver_version(t, buf, len);
    dm_task_destroy(t);
    return ok;
}
#endif
