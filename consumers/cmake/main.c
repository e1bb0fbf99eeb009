/* A consumer of bufpool through CMake and the bufpool::bufpool target:
 * find_package here, add_subdirectory in ../subdir, FetchContent in
 * ../fetchcontent (which pass CONSUMER, the name it prints).  It checks that
 * the header and the library agree on the version, then makes one
 * allocation and touches every buffer. */
#include <bufpool.h>

#include <stdio.h>
#include <string.h>

#ifndef CONSUMER
#define CONSUMER "cmake find_package"
#endif

int main(void)
{
    if (bufpool_version() != BUFPOOL_VERSION) {
        fprintf(stderr, "header says %d, library says %d\n", BUFPOOL_VERSION, bufpool_version());
        return 1;
    }
    bufpool_config cfg = { .buffer_size = 4096, .max_memory = 1 << 20, .flags = 0 };
    bufpool *pool;
    int err = bufpool_create(&pool, &cfg);
    if (err) {
        fprintf(stderr, "bufpool_create: %s\n", bufpool_strerror(err));
        return 1;
    }
    bufpool_alloc *a;
    err = bufpool_allocate(pool, 4, &a);
    if (err) {
        fprintf(stderr, "bufpool_allocate: %s\n", bufpool_strerror(err));
        return 1;
    }
    for (size_t i = 0; i < bufpool_alloc_length(a); i++)
        memset(bufpool_alloc_buffer(a, i), (int)i, cfg.buffer_size);
    bufpool_alloc_release(a);
    bufpool_destroy(pool);
    printf("%s consumer: bufpool %d ok\n", CONSUMER, bufpool_version());
    return 0;
}
