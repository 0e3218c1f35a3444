#ifndef KBS_CDEVICEMAPPER_SHIM_H
#define KBS_CDEVICEMAPPER_SHIM_H
#include <libdevmapper.h>
#include <stdint.h>

/* `struct dm_names` ends in a flexible `char name[]` Swift cannot read: these walk the list. */
static inline const char *kbs_dm_names_name(const struct dm_names *n) { return n->name; }
static inline const struct dm_names *kbs_dm_names_next(const struct dm_names *n) {
    return n->next ? (const struct dm_names *)((const char *)n + n->next) : 0;
}
/* An empty list is a single entry with dev == 0. */
static inline int kbs_dm_names_empty(const struct dm_names *n) { return n == 0 || n->dev == 0; }
#endif
