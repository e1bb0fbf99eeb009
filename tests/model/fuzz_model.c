/*
 * fuzz_model: the model-based test (model.h) as a libFuzzer target.
 * Build: clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc tests/model/fuzz_model.c src/*.c
 * (tests/model/fuzz.sh does this and runs it for a bounded time on
 * tests/model/corpus/).
 */
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    run_ops(data, size);
    return 0;
}
