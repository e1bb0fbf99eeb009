/*
 * track.h: what the library tells memory checkers.
 */
#ifndef BUFPOOL_TRACK_H
#define BUFPOOL_TRACK_H

/* -DBUFPOOL_VALGRIND: tell memcheck that cached memory is off limits, so
 * a use after release is reported even though the memory is recycled. */
#if defined(BUFPOOL_VALGRIND) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define VG_HAND_OUT(p, len) VALGRIND_MAKE_MEM_UNDEFINED((p), (len))
#define VG_TAKE_BACK(p, len) VALGRIND_MAKE_MEM_NOACCESS((p), (len))
#else
#define VG_HAND_OUT(p, len) ((void)0)
#define VG_TAKE_BACK(p, len) ((void)0)
#endif

#endif /* BUFPOOL_TRACK_H */
