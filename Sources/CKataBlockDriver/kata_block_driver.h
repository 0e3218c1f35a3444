/*
 * kata_block_driver.h: the C ABI of libkata-block-driver.so, the containers/storage graph
 * driver "kata-block" (Kata Block Storage). Layers are copy-on-write block devices with a
 * filesystem on them; a layer's mount point is the filesystem's root, so a VM runtime can hand
 * the device itself to its guest.
 *
 * Conventions:
 * - Every call that can fail returns KBD_OK or one of the KBD_E* codes below and, when `error` is
 *   not NULL, stores a message (what failed and what to do) that the caller frees with kbd_free.
 * - Strings are NUL-terminated UTF-8. Strings and buffers the library returns are freed with
 *   kbd_free. Lists come back as one buffer of NUL-terminated strings and its length in bytes.
 * - A driver handle may be used from any number of threads at once; every call blocks its
 *   calling thread until the work is done. Any number of processes may open the same state
 *   directory at once.
 * - Loading the library does nothing: work starts with kbd_open. The process should run with
 *   SWIFT_BACKTRACE=enable=no in its environment from exec on, so that a crash inside the
 *   library ends the process instead of waiting for a backtrace helper.
 *
 * The ABI version below changes whenever a declaration here changes incompatibly; callers check
 * kbd_abi_version() against the KBD_ABI_VERSION they were built with.
 */
#ifndef KATA_BLOCK_DRIVER_H
#define KATA_BLOCK_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KBD_ABI_VERSION 1

#define KBD_OK 0
#define KBD_ENOTFOUND 1      /* no such layer (containers/storage: ErrLayerUnknown) */
#define KBD_EEXISTS 2        /* a layer with that id exists */
#define KBD_EINVALID 3       /* malformed argument or option, or a hostile/malformed tar */
#define KBD_EPRECONDITION 4  /* valid call the layer's state forbids (has children, frozen) */
#define KBD_EBUSY 5          /* mounted or in use (EBUSY) */
#define KBD_ENOSPACE 6       /* the pool has no room (ENOSPC) */
#define KBD_EUNAVAILABLE 7   /* kernel feature, tool or pool not available right now */
#define KBD_EINTERNAL 9      /* inconsistent store or an unexpected system failure */

/* An open pool, seen through one namespace of layers. */
typedef struct kbd_driver kbd_driver;

/* Change kinds in kbd_changes' output, as containers/storage spells them. */
#define KBD_CHANGE_MODIFIED 'C'
#define KBD_CHANGE_ADDED 'A'
#define KBD_CHANGE_DELETED 'D'

uint32_t kbd_abi_version(void);

/*
 * Opens the pool in `state_dir`, making it when there is none. `options` holds `option_count`
 * "KEY=VALUE" strings: the engine's settings (backend, filesystem, default_size or size,
 * file.pool_size, dm_thin.*, wait_timeout), "namespace" (default "containers-storage") and
 * "log_level" (trace ... critical, default warning). Unknown keys are refused.
 */
int32_t kbd_open(const char *state_dir, const char *const *options, size_t option_count, kbd_driver **driver, char **error);

/* Releases the handle; mounts and devices stay (other processes may use them). */
void kbd_close(kbd_driver *driver);

/*
 * Creates layer `id` on `parent` (NULL: empty, root mode 0555). The parent becomes immutable
 * (frozen in place) when its first child is made. `writable` marks a container layer. `size` in
 * bytes grows the new device and its filesystem (0: the parent's or the pool's default).
 */
int32_t kbd_create(kbd_driver *driver, const char *id, const char *parent, int32_t writable, uint64_t size, char **error);

/* Creates layer `id` as a copy-on-write copy of `template_id`, on the template's parent. */
int32_t kbd_create_from_template(kbd_driver *driver, const char *id, const char *template_id, int32_t writable, char **error);

/* Removes the layer and its device; refused while it is mounted or has children. */
int32_t kbd_remove(kbd_driver *driver, const char *id, char **error);

/*
 * Mounts the layer's filesystem (counted across processes) with `options`, mount(8) words
 * separated by commas (NULL or "": none), flushes it, and stores the mount point (the
 * filesystem's root) in `mount_point`.
 */
int32_t kbd_get(kbd_driver *driver, const char *id, const char *options, char **mount_point, char **error);

/* Drops one kbd_get; the last one unmounts, whichever process calls it. */
int32_t kbd_put(kbd_driver *driver, const char *id, char **error);

/* 1 when the layer exists, 0 when it does not. */
int32_t kbd_exists(kbd_driver *driver, const char *id);

/* Key/value pairs (key, value, key, value, ...) about the pool, or about one layer. */
int32_t kbd_status(kbd_driver *driver, char **pairs, size_t *length, char **error);
int32_t kbd_metadata(kbd_driver *driver, const char *id, char **pairs, size_t *length, char **error);

/* The layer's own space: bytes not shared with its parent, and inodes added. */
int32_t kbd_usage(kbd_driver *driver, const char *id, int64_t *bytes, int64_t *inodes, char **error);

/*
 * Reads an uncompressed layer tar from `fd` (to its end) into the layer, applying OCI whiteouts;
 * `force_mask` is a permission mask forced onto every entry, or -1 for none. Stores the bytes of
 * file data written in `size`. The caller keeps and closes `fd`.
 */
int32_t kbd_apply_diff(kbd_driver *driver, const char *id, int32_t fd, int32_t ignore_chown_errors, int32_t force_mask,
                       int64_t *size, char **error);

/*
 * Writes the layer's changes against `parent` (NULL: an empty tree) to `fd` as an uncompressed
 * OCI layer tar; stores the bytes of file data in `size`. The caller keeps and closes `fd`.
 */
int32_t kbd_diff(kbd_driver *driver, const char *id, const char *parent, int32_t fd, int64_t *size, char **error);

/* The layer's changes against `parent` (NULL: an empty tree): pairs of kind ("A", "C", "D") and path. */
int32_t kbd_changes(kbd_driver *driver, const char *id, const char *parent, char **changes, size_t *length, char **error);

/* The bytes of file data kbd_diff would write. */
int32_t kbd_diff_size(kbd_driver *driver, const char *id, const char *parent, int64_t *size, char **error);

/* Frees a string or buffer the library returned. NULL is ignored. */
void kbd_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
