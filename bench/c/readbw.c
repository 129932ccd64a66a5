/* Single-core read bandwidth for a buffer of N KiB swept over and over with
 * 32-byte AVX loads (eight independent sums), as the inference kernel sweeps
 * its weights once per token. Shows where a batch-1 step becomes
 * memory-bound: L1, L2 and L3 plateaus.
 *
 *   gcc -O3 -mavx2 bench/c/readbw.c -o target/readbw && target/readbw 256 800 1100 4096
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: readbw KIB...\n");
        return 2;
    }
    for (int arg = 1; arg < argc; arg++) {
        size_t n = (size_t)atoi(argv[arg]) * 1024 / 4;
        n -= n % 64;
        if (n == 0) {
            fprintf(stderr, "readbw: %s: need at least 1 KiB\n", argv[arg]);
            return 2;
        }
        float *a = aligned_alloc(64, n * 4);
        if (!a) return 1;
        for (size_t i = 0; i < n; i++) a[i] = 1e-3f * (float)(i % 7);
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
        long reps = (long)(4e9 / (double)(n * 4)) + 1;
        double best = 0;
        for (int trial = 0; trial < 3; trial++) {
            double t0 = now();
            for (long r = 0; r < reps; r++)
                for (size_t i = 0; i < n; i += 64)
                    for (int j = 0; j < 8; j++) acc[j] = _mm256_add_ps(acc[j], _mm256_load_ps(a + i + 8 * j));
            double gbs = (double)reps * (double)n * 4 / (now() - t0) / 1e9;
            if (gbs > best) best = gbs;
        }
        float sink[8], s = 0;
        for (int j = 0; j < 8; j++) {
            _mm256_storeu_ps(sink, acc[j]);
            for (int k = 0; k < 8; k++) s += sink[k];
        }
        printf("%6d KiB: %6.1f GB/s%s\n", atoi(argv[arg]), best, s == -1 ? " " : "");
        free(a);
    }
    return 0;
}
