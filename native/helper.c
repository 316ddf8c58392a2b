/*
 * wasmsup-helper: the privileged-primitives process. It is single-threaded, so it and the children it
 * forks may change credentials and namespaces, which Node (multithreaded) must never do to itself.
 * Fd 3 is a SOCK_SEQPACKET socket to the supervisor (native/helper_wire.h: the wire format); requests
 * are served one at a time until end of stream, then the helper exits 0. A bad request is answered
 * EINVAL; nothing a request holds ends the helper. Its parts are listed in native/helper.h: MKNOD in
 * helper_mknod.c, SETXATTR in helper_setxattr.c, GETXATTR in helper_getxattr.c, MOUNT in helper_mount.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helper.h"

/* Checks and serves one received request; its answer, the errno the caller must see. */
static int serve_one(struct helper *h, ssize_t length, const int *fds, size_t nfds, int truncated, uint64_t *mnt_id) {
  if (truncated) return EINVAL;
  uint32_t op;
  if (length >= 4 && (memcpy(&op, h->message, 4), op == OP_MOUNT)) {
    int err = wire_parse_mount(h->message, (size_t)length, fds, nfds, &h->mount);
    return err != 0 ? err : serve_mount(h, &h->mount, mnt_id);
  }
  if (nfds > WIRE_MAX_REQUEST_FDS) return EINVAL;
  int err = wire_parse_request(h->message, (size_t)length, fds, nfds, &h->request);
  if (err != 0) return err;
  if (h->request.op == OP_AS_CALLER) return serve_as_caller(h, &h->request);
  if (h->request.op == OP_GETXATTR) return serve_getxattr(h, &h->request);
  return h->request.op == OP_SETXATTR ? serve_setxattr(h, &h->request) : serve_mknod(h, &h->request);
}

int main(void) {
  struct stat st;
  if (fstat(SUPERVISOR_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "wasmsup-helper: fd 3 is not the supervisor's socket\n");
    return 125;
  }
  fcntl(SUPERVISOR_FD, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  helper_pool_watch_children();
  struct helper *h = calloc(1, sizeof *h);
  if (h == NULL) {
    fprintf(stderr, "wasmsup-helper: no memory for its state\n");
    return 125;
  }
  int err = helper_save_own_credentials(h);
  if (err != 0) {
    fprintf(stderr, "wasmsup-helper: reading its own credentials: %s\n", strerror(err));
    return 125;
  }

  for (;;) {
    int fds[WIRE_MAX_FDS];
    size_t nfds;
    int truncated;
    ssize_t n = wire_receive(SUPERVISOR_FD, h->message, sizeof h->message, 0, fds, &nfds, &truncated);
    if (n < 0) {
      fprintf(stderr, "wasmsup-helper: receiving a request: %s\n", strerror((int)-n));
      return 1;
    }
    if (n == 0 && nfds == 0) return 0;
    helper_pool_reap(h);
    uint64_t mnt_id = 0;
    int answer = serve_one(h, n, fds, nfds, truncated, &mnt_id);
    uint32_t op = 0;
    if (n >= 4) memcpy(&op, h->message, 4);
    wire_close_fds(fds, nfds);
    /* Never serve another request with a caller's credentials: end; the supervisor sees end of stream. */
    if (h->tainted) return 1;
    /* OP_MOUNT's answer is 16 bytes (helper_wire.h), OP_GETXATTR's 8 and the bytes read, every other op's 4. */
    struct { int32_t err; uint32_t reserved; uint64_t mnt_id; } mount_answer = {answer, 0, mnt_id};
    const void *getxattr_message = NULL;
    size_t getxattr_length = op == OP_GETXATTR ? getxattr_answer(answer, &getxattr_message) : 0;
    int sent = op == OP_MOUNT ? wire_send(SUPERVISOR_FD, &mount_answer, sizeof mount_answer, NULL, 0)
               : op == OP_GETXATTR ? wire_send(SUPERVISOR_FD, getxattr_message, getxattr_length, NULL, 0)
                                   : wire_send(SUPERVISOR_FD, &answer, sizeof answer, NULL, 0);
    if (sent != 0) return 0; /* the supervisor is gone */
  }
}
