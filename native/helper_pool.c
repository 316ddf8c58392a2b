/*
 * Persistent impersonators, the helper's side. Forking per mknod costs two process lifetimes
 * (~0.4 ms); instead, one child per distinct (user namespace, ids, groups) of callers is forked once
 * and kept (helper_impersonator.c says what it does per request). At most IMPERSONATORS, the least
 * recently used retired. One that dies is noticed as end of stream and replaced, and the request is
 * sent again; one that cannot set up for a request answers NEED_FORK, and the helper serves that
 * request with a child forked for it alone (helper_child.c).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

/* ask_impersonator: no answer within IMPERSONATOR_TIMEOUT_MS. */
#define TIMED_OUT (-3)

/*
 * Set by SIGCHLD: some child ended (an idle impersonator, or a per-request child already waited
 * for). The helper's one global, since a signal handler can reach nothing else.
 */
static volatile sig_atomic_t children_exited;

static void note_child_exit(int sig) {
  (void)sig;
  children_exited = 1;
}

void helper_pool_watch_children(void) {
  struct sigaction on_child = {.sa_handler = note_child_exit, .sa_flags = SA_RESTART};
  sigemptyset(&on_child.sa_mask);
  sigaction(SIGCHLD, &on_child, NULL);
}

void helper_pool_reap(struct helper *h) {
  if (!children_exited) return;
  children_exited = 0;
  for (int i = 0; i < IMPERSONATORS; i++) {
    struct impersonator *imp = &h->pool[i];
    if (imp->pid != 0 && waitpid(imp->pid, NULL, WNOHANG) == imp->pid) {
      close(imp->sock);
      imp->pid = 0;
    }
  }
}

/*
 * The user namespace is compared by nsfs inode, a number the kernel reuses once a namespace is freed;
 * here that cannot happen while the entry lives: a slot is in use (pid != 0) until its impersonator
 * has been reaped, and that process, from its setns() until it is reaped (a zombie still holds its
 * credentials), keeps the namespace alive. One that never got in exits at once and is noticed as end
 * of stream on the first request, then retired; the request's own userns fd pins it meanwhile.
 */
static int same_identity(const struct impersonator *imp, const struct stat *ns, const struct helper_request *req) {
  return imp->ns_dev == ns->st_dev && imp->ns_ino == ns->st_ino && memcmp(imp->uid, req->uid, sizeof imp->uid) == 0 &&
         memcmp(imp->gid, req->gid, sizeof imp->gid) == 0 && imp->ngroups == req->ngroups &&
         memcmp(imp->groups, req->groups, req->ngroups * sizeof(gid_t)) == 0;
}

static void retire(struct helper *h, struct impersonator *imp) {
  close(imp->sock); /* end of stream: it exits by itself; SIGKILL in case it is stuck in a request */
  /* Killing a process of another uid takes CAP_KILL. Without its own credentials the helper is about
   * to end, and the impersonator with it (PR_SET_PDEATHSIG). */
  if (helper_own_credentials(h) == 0) {
    kill(imp->pid, SIGKILL);
    wait_for(imp->pid);
  }
  imp->pid = 0;
}

/* Forks an impersonator for req's identity into a free (or the least recently used) slot; NULL on failure. */
static struct impersonator *spawn_impersonator(struct helper *h, const struct helper_request *req, const struct stat *ns) {
  struct impersonator *slot = &h->pool[0];
  for (int i = 0; i < IMPERSONATORS; i++) {
    if (h->pool[i].pid == 0) {
      slot = &h->pool[i];
      break;
    }
    if (h->pool[i].last_used < slot->last_used) slot = &h->pool[i];
  }
  if (slot->pid != 0) retire(h, slot);
  if (helper_own_credentials(h) != 0) return NULL; /* the child starts from the helper's own */
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) return NULL;
  pid_t pid = fork();
  if (pid < 0) {
    close(pair[0]);
    close(pair[1]);
    return NULL;
  }
  if (pid == 0) _exit(impersonator_main(pair[1], req));
  close(pair[1]);
  slot->pid = pid;
  slot->sock = pair[0];
  slot->cpu = -1;
  slot->ns_dev = ns->st_dev;
  slot->ns_ino = ns->st_ino;
  memcpy(slot->uid, req->uid, sizeof slot->uid);
  memcpy(slot->gid, req->gid, sizeof slot->gid);
  slot->ngroups = req->ngroups;
  memcpy(slot->groups, req->groups, req->ngroups * sizeof(gid_t));
  return slot;
}

/*
 * Keeps the impersonator on the CPU the helper runs on. An exchange is a strict hand-off (the helper
 * blocks as soon as it has sent), so the impersonator loses nothing by waiting for this CPU, while a
 * wake-up on another CPU costs an inter-processor interrupt, several times the work itself on a VM.
 */
static void follow_cpu(struct impersonator *imp) {
  int cpu = sched_getcpu();
  if (cpu < 0 || cpu == imp->cpu) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(imp->pid, sizeof set, &set) == 0) imp->cpu = cpu;
}

/* One exchange with an impersonator: its answer (an errno or NEED_FORK); -1 when it is gone (end of
 * stream or a broken socket), TIMED_OUT when it did not answer within IMPERSONATOR_TIMEOUT_MS. */
static int ask_impersonator(struct impersonator *imp, const struct helper_request *req, int *parent_fd, int *setgid) {
  unsigned char buf[sizeof(struct impersonation) + WIRE_MAX_PATH_LENGTH];
  struct impersonation im = {req->mode, req->dev, req->umask, {req->cap_effective[0], req->cap_effective[1]}, (uint32_t)strlen(req->path)};
  memcpy(buf, &im, sizeof im);
  memcpy(buf + sizeof im, req->path, im.path_length);
  int fds[2] = {req->root_fd, req->start_fd};
  *parent_fd = -1;
  if (wire_send(imp->sock, buf, sizeof im + im.path_length, fds, req->start_fd >= 0 ? 2 : 1) != 0) return -1;
  if (!answer_within_bound(imp->sock)) return TIMED_OUT;
  return wire_receive_answer(imp->sock, 0, parent_fd, setgid);
}

int helper_pool_mknod(struct helper *h, const struct helper_request *req, int *parent_fd, int *setgid) {
  struct stat ns;
  *parent_fd = -1;
  if (fstat(req->userns_fd, &ns) != 0) return NEED_FORK;
  struct impersonator *imp = NULL;
  for (int i = 0; i < IMPERSONATORS && imp == NULL; i++) {
    if (h->pool[i].pid != 0 && same_identity(&h->pool[i], &ns, req)) imp = &h->pool[i];
  }
  /* A kept impersonator that has died is replaced once; a fresh one that fails is not retried. */
  for (int attempt = 0; attempt < 2; attempt++) {
    int fresh = imp == NULL;
    if (fresh && (imp = spawn_impersonator(h, req, &ns)) == NULL) break;
    imp->last_used = ++h->pool_clock;
    follow_cpu(imp);
    int err = ask_impersonator(imp, req, parent_fd, setgid);
    if (err >= 0) return err;
    if (*parent_fd >= 0) close(*parent_fd);
    *parent_fd = -1;
    if (err == NEED_FORK) break; /* alive, but this request's root was out of its reach */
    retire(h, imp);
    imp = NULL;
    if (err == TIMED_OUT) {
      /* Wedged (e.g. stopped by the caller): killed by retire, replaced on the next request. */
      fprintf(stderr, "wasmsup-helper: an impersonator gave no answer within %d ms; killed it\n", IMPERSONATOR_TIMEOUT_MS);
      return IMPERSONATOR_WEDGED_ERRNO;
    }
    if (fresh) break;
  }
  return NEED_FORK;
}
