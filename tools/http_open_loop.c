/*
 * Open-loop HTTP/1.1 load at a fixed rate, for latency percentiles that count
 * coordinated omission: request i is due at start + i / RATE whatever the server does,
 * and its latency runs from that due time (not from when it could be sent), so a server
 * that stalls is charged for every request that waited behind the stall. One thread, one
 * epoll, keep-alive connections (one request in flight on each); a request whose due time
 * finds every connection busy waits for the first free one, and more connections are
 * opened up to -c. Built by tools/bench_gateway.py with cc; costs a few microseconds of
 * CPU a request, so it does not take the CPU it measures the way a Python loop did.
 *
 *   http_open_loop -p PORT -r RATE -d SECONDS [-c MAXCONN] [-b BODY] PATH...
 *
 * POSTs BODY (application/json) to the PATHs in turn, at 127.0.0.1:PORT. Prints one line:
 *   requests N errors E p50 X p99 Y max Z     (milliseconds; errors: non-2xx or no answer)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUFSIZE 65536
#define TIMER 0xffffffffu  /* the epoll tag of the timerfd */

struct conn {
    int fd;
    int busy;          /* a request is in flight */
    double due;        /* its scheduled send time */
    size_t have;
    char buf[BUFSIZE];
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int port, epfd;
static char **requests;
static size_t *request_len;
static int npaths;

static int open_conn(struct conn *c, int index) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("http_open_loop: connect");
        exit(2);
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = index};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    c->busy = 0;
    c->have = 0;
    return 0;
}

static void send_request(struct conn *c, long i, double due) {
    const char *r = requests[i % npaths];
    size_t len = request_len[i % npaths], off = 0;
    while (off < len) {
        ssize_t n = write(c->fd, r + off, len - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("http_open_loop: write");
            exit(2);
        }
        off += n;
    }
    c->busy = 1;
    c->due = due;
}

/* A complete answer at the front of c->buf: its length (head + body), its status in *status; 0 when incomplete. */
static size_t complete(struct conn *c, int *status) {
    char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = end - c->buf + 4, body = 0;
    for (char *p = c->buf; p < end; p++) {
        if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0) body = strtoul(p + 16, NULL, 10);
    }
    if (c->have < head + body) return 0;
    *status = atoi(c->buf + 9);
    return head + body;
}

int main(int argc, char **argv) {
    double rate = 0, seconds = 0;
    int maxconn = 64, opt;
    const char *body = "{}";
    while ((opt = getopt(argc, argv, "p:r:d:c:b:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'c': maxconn = atoi(optarg); break;
        case 'b': body = optarg; break;
        default: goto usage;
        }
    }
    npaths = argc - optind;
    if (!port || rate <= 0 || seconds <= 0 || npaths < 1 || maxconn < 1) {
    usage:
        fprintf(stderr, "usage: http_open_loop -p PORT -r RATE -d SECONDS [-c MAXCONN] [-b BODY] PATH...\n");
        return 2;
    }
    requests = calloc(npaths, sizeof *requests);
    request_len = calloc(npaths, sizeof *request_len);
    for (int k = 0; k < npaths; k++) {
        request_len[k] = asprintf(&requests[k],
                                  "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                  "Content-Length: %zu\r\n\r\n%s", argv[optind + k], strlen(body), body);
    }
    long total = (long)(rate * seconds);
    double *latency = calloc(total, sizeof *latency);
    struct conn *conns = calloc(maxconn, sizeof *conns);
    int nconn = 0;
    epfd = epoll_create1(0);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = TIMER};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);
    for (; nconn < 8 && nconn < maxconn; nconn++) open_conn(&conns[nconn], nconn);

    long next = 0, done = 0, errors = 0;
    double start = now_s() + 0.05;
    /* answers stop being waited for this long after the last due time */
    double give_up = start + seconds + 10;
    struct epoll_event events[64];
    while (done < total) {
        double t = now_s();
        if (t > give_up) break;
        /* send every request that is due, on a free connection (more opened up to maxconn) */
        while (next < total && start + next / rate <= t) {
            int free_conn = -1;
            for (int k = 0; k < nconn; k++)
                if (!conns[k].busy) { free_conn = k; break; }
            if (free_conn < 0 && nconn < maxconn) {
                open_conn(&conns[nconn], nconn);
                free_conn = nconn++;
            }
            if (free_conn < 0) break;  /* all busy: it goes when one frees, still late from its due time */
            send_request(&conns[free_conn], next, start + next / rate);
            next++;
        }
        /* wake at the next due time (a timerfd: epoll's millisecond timeout is too coarse at
           2,000/s), or at an answer; due already but every connection busy: only an answer helps */
        if (next < total && start + next / rate > now_s()) {
            double due = start + next / rate;
            struct itimerspec when = {.it_value = {.tv_sec = (time_t)due, .tv_nsec = (long)((due - (time_t)due) * 1e9)}};
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &when, NULL);
        }
        int n = epoll_wait(epfd, events, 64, 100);
        for (int e = 0; e < n; e++) {
            if (events[e].data.u32 == TIMER) {
                unsigned long long expirations;
                if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) perror("http_open_loop: timerfd");
                continue;
            }
            struct conn *c = &conns[events[e].data.u32];
            ssize_t got = read(c->fd, c->buf + c->have, BUFSIZE - c->have);
            if (got <= 0) {
                fprintf(stderr, "http_open_loop: the server closed a connection\n");
                return 2;
            }
            c->have += got;
            int status;
            size_t len;
            while (c->busy && (len = complete(c, &status)) > 0) {
                latency[done++] = (now_s() - c->due) * 1000;
                if (status < 200 || status > 299) errors++;
                memmove(c->buf, c->buf + len, c->have - len);
                c->have -= len;
                c->busy = 0;
            }
        }
    }
    errors += total - done;
    if (done == 0) {
        printf("requests 0 errors %ld p50 0 p99 0 max 0\n", errors);
        return 1;
    }
    qsort(latency, done, sizeof *latency, cmp_double);
    /* unanswered requests count as the slowest */
    #define PCT(q) (done < total && (long)((q) * total) >= done ? 1e9 : latency[(long)((q) * total) < done ? (long)((q) * total) : done - 1])
    printf("requests %ld errors %ld p50 %.2f p99 %.2f max %.2f\n", total, errors, PCT(0.5), PCT(0.99),
           done < total ? 1e9 : latency[done - 1]);
    return 0;
}
