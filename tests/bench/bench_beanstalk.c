/* bench_beanstalk.c: the dispatch peer of DESIGN §9: beanstalkd (started by the
   calling script, with a binlog) gets JOBS no-op jobs from one pipelined
   producer, then CONSUMERS threads each reserve and delete jobs until all are
   done; prints the consume rate in jobs/s. Used by tests/bench/worker.sh.
   Usage: bench_beanstalk PORT [JOBS] [CONSUMERS] */
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;
static uint64_t jobs = 100000;
static atomic_uint_fast64_t consumed;

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (int i = 0; i < 100; i++) {
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
        cn_sleep_ms(20);
    }
    perror("bench_beanstalk: connect");
    exit(1);
}

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w <= 0) {
            perror("bench_beanstalk: write");
            exit(1);
        }
        c += w;
        n -= (size_t)w;
    }
}

/* Reads one "\r\n"-terminated line (without it) into line. */
static void read_line(int fd, char *line, size_t cap) {
    size_t n = 0;
    for (;;) {
        char ch;
        if (read(fd, &ch, 1) != 1) {
            fprintf(stderr, "bench_beanstalk: connection closed\n");
            exit(1);
        }
        if (ch == '\n' && n && line[n - 1] == '\r') {
            line[n - 1] = '\0';
            return;
        }
        if (n + 1 < cap) line[n++] = ch;
    }
}

static void produce(void) {
    int fd = dial();
    char line[128];
    for (uint64_t done = 0; done < jobs;) {
        uint64_t k = CN_MIN(1000, jobs - done);
        cn_buf_t b = {0};
        for (uint64_t i = 0; i < k; i++) cn_buf_printf(&b, "put 0 0 60 2\r\n{}\r\n");
        write_all(fd, b.data, b.len);
        cn_buf_free(&b);
        for (uint64_t i = 0; i < k; i++) {
            read_line(fd, line, sizeof line);
            if (strncmp(line, "INSERTED", 8) != 0) {
                fprintf(stderr, "bench_beanstalk: put: %s\n", line);
                exit(1);
            }
        }
        done += k;
    }
    close(fd);
}

static void *consume(void *arg) {
    (void)arg;
    int fd = dial();
    char line[128], cmd[64];
    while (atomic_load(&consumed) < jobs) {
        write_all(fd, "reserve-with-timeout 0\r\n", 24);
        read_line(fd, line, sizeof line);
        unsigned long long id;
        unsigned bytes;
        if (sscanf(line, "RESERVED %llu %u", &id, &bytes) != 2) break; /* TIMED_OUT: drained */
        char body[64];
        size_t left = (size_t)bytes + 2;
        while (left) {
            ssize_t r = read(fd, body, CN_MIN(left, sizeof body));
            if (r <= 0) exit(1);
            left -= (size_t)r;
        }
        int n = snprintf(cmd, sizeof cmd, "delete %llu\r\n", id);
        write_all(fd, cmd, (size_t)n);
        read_line(fd, line, sizeof line);
        if (strcmp(line, "DELETED") == 0) atomic_fetch_add(&consumed, 1);
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    uint64_t p = 0, consumers = 2;
    if (argc < 2 || !cn_parse_u64(argv[1], &p) || p == 0 || p > 65535) {
        fprintf(stderr, "usage: bench_beanstalk PORT [JOBS] [CONSUMERS]\n");
        return 2;
    }
    port = (int)p;
    if (argc > 2) cn_parse_u64(argv[2], &jobs);
    if (argc > 3) cn_parse_u64(argv[3], &consumers);
    if (consumers < 1 || consumers > 64) consumers = 2;
    produce();
    uint64_t t0 = cn_mono_us();
    pthread_t t[64];
    for (uint64_t i = 0; i < consumers; i++) pthread_create(&t[i], NULL, consume, NULL);
    for (uint64_t i = 0; i < consumers; i++) pthread_join(t[i], NULL);
    double secs = (double)(cn_mono_us() - t0) / 1e6;
    uint64_t n = atomic_load(&consumed);
    printf("beanstalkd: %llu no-op jobs, %llu consumers, binlog: %.0f jobs/s\n", (unsigned long long)n,
           (unsigned long long)consumers, (double)n / secs);
    return n == jobs ? 0 : 1;
}
