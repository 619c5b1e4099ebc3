/* A C loop around one USDT site shaped like python:function__entry(file, func, line).
 * Prints "ready", waits for a byte on stdin, runs N iterations, prints ns per iteration. */
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

__attribute__((section(".probes"))) volatile unsigned short python_function__entry_semaphore = 0;

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    static const char *file = "/app/loop.py", *func = "work";
    char c;
    printf("ready\n");
    fflush(stdout);
    if (read(0, &c, 1) != 1)
        return 1;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (python_function__entry_semaphore)
            STAP_PROBE3(python, function__entry, file, func, (int)i);
        __asm__ volatile("" ::: "memory");
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
