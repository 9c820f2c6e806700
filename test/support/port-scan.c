/*
 * port-scan: what a port scanner in a compromised pod does, for tests.
 *
 *   port-scan ports ADDR FIRST LAST   TCP connect() to every port FIRST..LAST of ADDR,
 *                                      then one UDP datagram to each of them
 *   port-scan peers COUNT PORT        TCP connect() to PORT on COUNT addresses of
 *                                      127.0.0.0/8 (127.1.0.1 upwards; all of them are
 *                                      loopback on Linux, no interface to set up)
 *
 * Blocking connects: on loopback the handshake (or the RST of a closed port) completes
 * inside connect(). Connections are closed with SO_LINGER {1, 0} (an RST), so no
 * TIME_WAIT socket is left behind. Prints one JSON object: connect results by errno class,
 * datagrams sent.
 * Build: cc -O2 -o port-scan port-scan.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long established, refused, other, datagrams, send_errors;

static void tcp_connect(struct sockaddr_in *to) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    other++;
    return;
  }
  if (connect(fd, (struct sockaddr *)to, sizeof *to) == 0) {
    struct linger rst = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
    established++;
  } else if (errno == ECONNREFUSED) {
    refused++;
  } else {
    other++;
  }
  close(fd);
}

int main(int argc, char **argv) {
  struct sockaddr_in to = {.sin_family = AF_INET};
  if (argc == 5 && strcmp(argv[1], "ports") == 0) {
    if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) return 2;
    int first = atoi(argv[3]), last = atoi(argv[4]);
    if (first < 1 || last > 65535 || first > last) return 2;
    for (int p = first; p <= last; p++) {
      to.sin_port = htons((uint16_t)p);
      tcp_connect(&to);
    }
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    for (int p = first; p <= last; p++) {
      to.sin_port = htons((uint16_t)p);
      if (sendto(udp, "scan", 4, 0, (struct sockaddr *)&to, sizeof to) == 4) datagrams++;
      else send_errors++; /* ECONNREFUSED from the previous port's ICMP error, mostly */
    }
    close(udp);
  } else if (argc == 4 && strcmp(argv[1], "peers") == 0) {
    long count = atol(argv[2]);
    int port = atoi(argv[3]);
    if (count < 1 || count > 1000000 || port < 1 || port > 65535) return 2;
    to.sin_port = htons((uint16_t)port);
    for (long i = 0; i < count; i++) {
      /* 127.1.0.1 upwards, skipping .0 and .255 */
      long host = i / 254, low = i % 254 + 1;
      to.sin_addr.s_addr = htonl((127u << 24) | (uint32_t)((1 + host / 256) << 16) | (uint32_t)((host % 256) << 8) | (uint32_t)low);
      tcp_connect(&to);
    }
  } else {
    fprintf(stderr, "usage: port-scan ports ADDR FIRST LAST | port-scan peers COUNT PORT\n");
    return 2;
  }
  printf("{\"established\":%ld,\"refused\":%ld,\"other\":%ld,\"datagrams\":%ld,\"send_errors\":%ld}\n", established, refused, other, datagrams, send_errors);
  return 0;
}
