#ifndef KBS_CARCHIVE_SHIM_H
#define KBS_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

/* Cast-built file type macros do not import into Swift. */
static const unsigned int KBS_AE_IFREG = AE_IFREG;
static const unsigned int KBS_AE_IFDIR = AE_IFDIR;
static const unsigned int KBS_AE_IFLNK = AE_IFLNK;
#endif
