#ifndef KBS_CLMDB_SHIM_H
#define KBS_CLMDB_SHIM_H
#include <lmdb.h>
#endif
