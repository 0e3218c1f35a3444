#ifndef KBS_CLINUX_SHIM_H
#define KBS_CLINUX_SHIM_H
/* Linux ioctls whose request numbers are built by macros Swift cannot import.
   Each returns the ioctl's result; on -1, errno is left for the caller's funnel. */
#include <linux/loop.h>
#include <linux/fs.h>
#include <linux/fiemap.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

/* syncfs(2) is declared only with _GNU_SOURCE. */
extern int syncfs(int fd);
static inline int kbs_syncfs(int fd) { return syncfs(fd); }

static inline int kbs_loop_ctl_get_free(int ctl_fd) { return ioctl(ctl_fd, LOOP_CTL_GET_FREE); }

/* Binds backing_fd to the loop device in one call (LOOP_CONFIGURE, Linux >= 5.8). */
static inline int kbs_loop_configure(int loop_fd, int backing_fd, unsigned int lo_flags,
                                     unsigned int block_size, const char *name) {
    struct loop_config config;
    memset(&config, 0, sizeof config);
    config.fd = (unsigned int)backing_fd;
    config.block_size = block_size;
    config.info.lo_flags = lo_flags;
    strncpy((char *)config.info.lo_file_name, name, LO_NAME_SIZE - 1);
    return ioctl(loop_fd, LOOP_CONFIGURE, &config);
}

static inline int kbs_loop_clear(int loop_fd) { return ioctl(loop_fd, LOOP_CLR_FD, 0); }

/* Makes a bound loop device take its backing file's current size. */
static inline int kbs_loop_set_capacity(int loop_fd) { return ioctl(loop_fd, LOOP_SET_CAPACITY, 0); }

/* Freezes a mounted filesystem (flushing it to its device) and thaws it again. */
static inline int kbs_fifreeze(int dir_fd) { return ioctl(dir_fd, FIFREEZE, 0); }
static inline int kbs_fithaw(int dir_fd) { return ioctl(dir_fd, FITHAW, 0); }

/* Discards every free extent of at least min_length bytes of the filesystem mounted at dir_fd
   (FITRIM); *trimmed is set to the bytes the filesystem reports it discarded. */
static inline int kbs_fitrim(int dir_fd, unsigned long long min_length, unsigned long long *trimmed) {
    struct fstrim_range range;
    memset(&range, 0, sizeof range);
    range.len = ~0ULL;
    range.minlen = min_length;
    int rc = ioctl(dir_fd, FITRIM, &range);
    if (rc == 0) *trimmed = range.len;
    return rc;
}

/* Discards length bytes of a block device from offset (BLKDISCARD): a thin device unmaps them. */
static inline int kbs_blkdiscard(int dev_fd, unsigned long long offset, unsigned long long length) {
    unsigned long long range[2] = { offset, length };
    return ioctl(dev_fd, BLKDISCARD, &range);
}

static const unsigned int KBS_LO_FLAGS_DIRECT_IO = LO_FLAGS_DIRECT_IO;
static const unsigned int KBS_LO_FLAGS_READ_ONLY = LO_FLAGS_READ_ONLY;

/* Makes dst_fd share all of src_fd's extents (copy-on-write). */
static inline int kbs_ficlone(int dst_fd, int src_fd) { return ioctl(dst_fd, FICLONE, src_fd); }

static inline dev_t kbs_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }
static inline unsigned int kbs_major(dev_t dev) { return major(dev); }
static inline unsigned int kbs_minor(dev_t dev) { return minor(dev); }

struct kbs_extent {
    unsigned long long logical;
    unsigned long long physical;
    unsigned long long length;
    unsigned int flags;
};

static const unsigned int KBS_FIEMAP_EXTENT_SHARED = FIEMAP_EXTENT_SHARED;

/* Lists a file's mapped extents (after flushing it) into out[0..max). Sets *count to how many
   exist; when that exceeds max, call again with a larger buffer. */
static inline int kbs_fiemap_read(int fd, struct kbs_extent *out, unsigned int max, unsigned int *count) {
    enum { BATCH = 512 };
    char buffer[sizeof(struct fiemap) + BATCH * sizeof(struct fiemap_extent)];
    struct fiemap *map = (struct fiemap *)buffer;
    unsigned long long start = 0;
    unsigned int n = 0;
    unsigned int flags = FIEMAP_FLAG_SYNC;
    for (;;) {
        memset(map, 0, sizeof(struct fiemap));
        map->fm_start = start;
        map->fm_length = ~0ULL - start;
        map->fm_flags = flags;
        map->fm_extent_count = BATCH;
        if (ioctl(fd, FS_IOC_FIEMAP, map) < 0) return -1;
        flags = 0;
        if (map->fm_mapped_extents == 0) break;
        int last = 0;
        for (unsigned int i = 0; i < map->fm_mapped_extents; i++) {
            struct fiemap_extent *e = &map->fm_extents[i];
            if (n < max) {
                out[n].logical = e->fe_logical;
                out[n].physical = e->fe_physical;
                out[n].length = e->fe_length;
                out[n].flags = e->fe_flags;
            }
            n++;
            start = e->fe_logical + e->fe_length;
            if (e->fe_flags & FIEMAP_EXTENT_LAST) last = 1;
        }
        if (last) break;
    }
    *count = n;
    return 0;
}

/* openat2(2), which glibc 2.36 does not wrap: opens `path` relative to `dir_fd` with `resolve`
   (RESOLVE_IN_ROOT: symbolic links and ".." are resolved as if dir_fd were the root). */
#include <fcntl.h>
#include <sys/xattr.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
static inline int kbs_openat2(int dir_fd, const char *path, int flags, unsigned int mode, unsigned long long resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
}
static const unsigned long long KBS_RESOLVE_IN_ROOT = RESOLVE_IN_ROOT;
static const unsigned long long KBS_RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS;
static const unsigned long long KBS_RESOLVE_NO_XDEV = RESOLVE_NO_XDEV;
/* O_PATH and AT_EMPTY_PATH are declared only with _GNU_SOURCE; their Linux values. */
#ifndef O_PATH
#define O_PATH 010000000
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
static const int KBS_O_PATH = O_PATH;
static const int KBS_AT_EMPTY_PATH = AT_EMPTY_PATH;

#endif
