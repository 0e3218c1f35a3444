#ifndef KBS_CARCHIVE_SHIM_H
#define KBS_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

/* Cast-built file type macros do not import into Swift. */
static const unsigned int KBS_AE_IFREG = AE_IFREG;
static const unsigned int KBS_AE_IFDIR = AE_IFDIR;
static const unsigned int KBS_AE_IFLNK = AE_IFLNK;
static const unsigned int KBS_AE_IFCHR = AE_IFCHR;
static const unsigned int KBS_AE_IFBLK = AE_IFBLK;
static const unsigned int KBS_AE_IFIFO = AE_IFIFO;
static const unsigned int KBS_AE_IFSOCK = AE_IFSOCK;
#endif
