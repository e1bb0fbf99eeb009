/*
 * test_model: the model-based test (model.h) with fixed seeds.
 * Random operation sequences are generated from a xorshift generator; each
 * is checked step by step against the reference model.  The files in a
 * corpus directory (such as tests/model/corpus/, the fuzzer's seeds) run
 * too when it is given.
 * Usage: test_model [sequences] [corpus-dir]; BUFPOOL_MODEL_SEQS overrides.
 */
#include "model.h"

#include <dirent.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t run_corpus(const char *dir)
{
    DIR *d = opendir(dir);
    size_t files = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static uint8_t buf[65536];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        run_ops(buf, len);
        files++;
    }
    closedir(d);
    return files;
}

int main(int argc, char **argv)
{
    size_t seqs = 3000;
    const char *env = getenv("BUFPOOL_MODEL_SEQS");
    if (argc > 1)
        seqs = strtoul(argv[1], NULL, 10);
    else if (env)
        seqs = strtoul(env, NULL, 10);
    size_t steps = 0;
    static uint8_t buf[1024];
    for (size_t s = 0; s < seqs; s++) {
        size_t len = 16 + next() % (sizeof buf - 16);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)next();
        /* cover every mode evenly: flags byte cycles */
        buf[0] = (uint8_t)(s % 8);
        steps += run_ops(buf, len);
    }
    const char *dir = argc > 2 ? argv[2] : NULL;
    size_t files = dir ? run_corpus(dir) : 0;
    printf("test_model: %zu sequences, %zu steps, %zu corpus files: all matched the model\n", seqs, steps,
           files);
    return 0;
}
