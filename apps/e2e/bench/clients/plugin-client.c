/*
 * The endpoint bench's minimal client: what a plugin call costs when the client adds next to nothing. One
 * keep-alive connection to the plugin socket, blocking write(2) and read(2), the bytes dockerd 20.10.24 writes
 * (empty Host, Go's User-Agent, Content-Length, the plugin Accept type). It times each call itself, so the pipe to
 * the bench process is outside every measurement.
 *
 * Usage: plugin-client SOCKET. On stdin, batches: a line "N", then N requests, each a line "PATH LENGTH" and
 * LENGTH bytes of body. The requests of a batch go back to back, each as soon as the previous reply is read. On
 * stdout, per request a line "STATUS NANOSECONDS LENGTH" and LENGTH bytes of reply body, the time counted from the
 * start of the batch to the end of that reply. Replies must carry Content-Length (the tsnet daemon's and the floor
 * server's do). Exits 0 at end of input, 1 on any error (told on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (1 << 20)
#define MAX_REPLY (MAX_BODY + 16384)

static char request[MAX_BODY + 512];
static char reply[MAX_REPLY + 1];

static void fail(const char *what) {
  fprintf(stderr, "plugin-client: %s: %s\n", what, errno ? strerror(errno) : "protocol error");
  exit(1);
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void write_all(int fd, const char *data, size_t length) {
  while (length > 0) {
    ssize_t n = write(fd, data, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    data += n;
    length -= (size_t)n;
  }
}

/* Reads one response; returns its status and points *body at its body of *body_length bytes. */
static int read_reply(int fd, const char **body, size_t *body_length) {
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, reply + got, MAX_REPLY - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("read reply");
    got += (size_t)n;
    reply[got] = '\0';
    char *head_end = strstr(reply, "\r\n\r\n");
    if (head_end == NULL) continue;
    char *length_field = strcasestr(reply, "\r\ncontent-length:");
    if (length_field == NULL || length_field > head_end) fail("reply without Content-Length");
    size_t length = strtoul(length_field + strlen("\r\ncontent-length:"), NULL, 10);
    size_t head = (size_t)(head_end - reply) + 4;
    if (got < head + length) continue;
    if (got > head + length) fail("bytes after the reply");
    if (strncmp(reply, "HTTP/1.", 7) != 0) fail("not an HTTP/1.x reply");
    *body = reply + head;
    *body_length = length;
    return atoi(reply + 9);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: plugin-client SOCKET\n");
    return 2;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  strncpy(address.sun_path, argv[1], sizeof address.sun_path - 1);
  if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) fail("connect");
  int count;
  while (scanf("%d", &count) == 1) {
    static char paths[16][256];
    static char bodies[16][MAX_BODY];
    static size_t lengths[16];
    if (count < 1 || count > 16) fail("batch size");
    for (int i = 0; i < count; i++) {
      if (scanf("%255s %zu", paths[i], &lengths[i]) != 2 || lengths[i] > MAX_BODY - 1) fail("request line");
      getchar(); /* the newline before the body */
      if (fread(bodies[i], 1, lengths[i], stdin) != lengths[i]) fail("request body");
    }
    long long started = now_ns();
    for (int i = 0; i < count; i++) {
      int length = snprintf(request, sizeof request,
                            "POST %s HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: %zu\r\n"
                            "Accept: application/vnd.docker.plugins.v1.2+json\r\n\r\n",
                            paths[i], lengths[i]);
      memcpy(request + length, bodies[i], lengths[i]);
      write_all(fd, request, (size_t)length + lengths[i]);
      const char *body;
      size_t body_length;
      int status = read_reply(fd, &body, &body_length);
      long long at = now_ns() - started;
      printf("%d %lld %zu\n", status, at, body_length);
      fwrite(body, 1, body_length, stdout);
    }
    fflush(stdout);
  }
  return 0;
}
