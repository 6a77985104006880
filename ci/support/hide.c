/* Attacks on the inventory, for ci/tests/hostile.rs: a local user's ways to
 * hide a listener. Built by the test with the machine's cc.
 *
 *   hide leaderless-netns   a thread unshares its network namespace and
 *                           listens; the leader thread then pthread_exit()s,
 *                           so /proc/PID/ns/net and /proc/PID/fd are gone
 *   hide leaderless-here    the same, the listener in the leader's namespace
 *   hide socket-only        a child makes a user and network namespace,
 *                           listens on TCP and UDP there, hands both sockets
 *                           to the parent (SCM_RIGHTS) and exits: only the
 *                           sockets keep that namespace alive (works
 *                           unprivileged)
 *
 * Prints "PORT\n" once listening (socket-only: "TCPPORT UDPPORT\n"), then
 * sleeps until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int unshare_net;

static int bound_port(int s) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(s, (struct sockaddr *)&a, &len)) {
        perror("getsockname");
        exit(1);
    }
    return ntohs(a.sin_port);
}

static int bind_any(int type) {
    int s = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || (type == SOCK_STREAM && listen(s, 8))) {
        perror("bind");
        exit(1);
    }
    return s;
}

/* Child: new user+net namespace, a TCP listener and a bound UDP socket,
 * both sent to the parent over `channel`; the parent keeps only them. */
static void socket_only(void) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pair)) return perror("socketpair"), exit(1);
    pid_t child = fork();
    if (child == 0) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET)) perror("unshare"), exit(1);
        int fds[2] = {bind_any(SOCK_STREAM), bind_any(SOCK_DGRAM)};
        char cmsgbuf[CMSG_SPACE(sizeof fds)] = {0};
        char byte = 0;
        struct iovec iov = {&byte, 1};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = cmsgbuf, .msg_controllen = sizeof cmsgbuf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof fds);
        memcpy(CMSG_DATA(c), fds, sizeof fds);
        if (sendmsg(pair[1], &msg, 0) != 1) perror("sendmsg"), exit(1);
        _exit(0);
    }
    int fds[2];
    char cmsgbuf[CMSG_SPACE(sizeof fds)];
    char byte;
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = cmsgbuf, .msg_controllen = sizeof cmsgbuf};
    if (recvmsg(pair[0], &msg, 0) != 1) perror("recvmsg"), exit(1);
    memcpy(fds, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof fds);
    close(pair[0]);
    close(pair[1]);
    waitpid(child, NULL, 0);
    printf("%d %d\n", bound_port(fds[0]), bound_port(fds[1]));
    fflush(stdout);
    for (;;) pause();
}

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
        fprintf(stderr, "usage: hide leaderless-netns|leaderless-here|socket-only\n");
        return 2;
    }
    if (!strcmp(argv[1], "socket-only")) socket_only();
    if (!strcmp(argv[1], "leaderless-netns")) unshare_net = 1;
    else if (strcmp(argv[1], "leaderless-here")) return 2;
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL)) return 1;
    /* Wait until the worker listens, so the leader is gone when the scan runs. */
    sleep(1);
    pthread_exit(NULL);
}
