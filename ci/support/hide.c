/* Attacks on the inventory, for ci/tests/hostile.rs: a local user's ways to
 * hide a listener. Built by the test with the machine's cc.
 *
 *   hide leaderless-netns   a thread unshares its network namespace and
 *                           listens; the leader thread then pthread_exit()s,
 *                           so /proc/PID/ns/net and /proc/PID/fd are gone
 *   hide leaderless-here    the same, the listener in the leader's namespace
 *
 * Prints "PORT\n" once listening, then sleeps until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int unshare_net;

static int listen_any(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8) ||
        getsockname(s, (struct sockaddr *)&a, &len)) {
        perror("listen");
        exit(1);
    }
    return ntohs(a.sin_port);
}

static void *worker(void *arg) {
    (void)arg;
    if (unshare_net && unshare(CLONE_NEWNET)) {
        perror("unshare");
        exit(1);
    }
    printf("%d\n", listen_any());
    fflush(stdout);
    for (;;) pause();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: hide leaderless-netns|leaderless-here\n");
        return 2;
    }
    if (!strcmp(argv[1], "leaderless-netns")) unshare_net = 1;
    else if (strcmp(argv[1], "leaderless-here")) return 2;
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL)) return 1;
    /* Wait until the worker listens, so the leader is gone when the scan runs. */
    sleep(1);
    pthread_exit(NULL);
}
