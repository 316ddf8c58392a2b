/*
 * Acting as a seccomp caller, reversibly, on the calling thread: the one implementation of the
 * privileged steps an emulation takes "as the caller". Compiled into both the addon, whose fast path
 * (native/impersonate.cc) runs on a data-plane worker thread of Node, and the privileged helper
 * (native/helper*.c), a single-threaded process, and its impersonators. Both take on the caller's
 * file-system identity (fsuid, fsgid, groups, capabilities for the step), enter its root, look its
 * path up once, create, and put their own state back.
 *
 * Per-thread raw syscalls throughout, never glibc's wrappers: Linux keeps credentials per thread, and
 * the raw setgroups/setresgid/setfsuid/setfsgid/capset change only the calling thread, while glibc's setgroups
 * (and set*id) would broadcast the change to every thread of the process: all of Node's. In the
 * single-threaded helper the two are the same thing. (Root and umask live in the fs_struct, which a
 * thread shares with the others until it calls unshare(CLONE_FS): the addon does that first.)
 *
 * The path is looked up once: the helper may have to finish a create the caller was refused only for
 * want of CAP_MKNOD in the initial user namespace, with more privilege than the caller has
 * (CAP_DAC_OVERRIDE). It must do so in the very directory the caller was allowed to write, so the
 * directory part of the path is opened once (O_PATH) and from then on only that fd is used: the
 * caller's own mknodat, the setgid probe and the helper's create all name that inode, and a symlink
 * swapped in between changes nothing. Looking the name up again, even as the caller, would find
 * whatever the path names by then.
 *
 * The kernel's answers for odd paths stay its own: the last component goes to mknodat with its
 * trailing slashes ("name/" is ENOENT or EEXIST, "." and ".." EEXIST, a long name ENAMETOOLONG), and
 * the directory part to openat2 as it was written (ENOENT, ENOTDIR, EACCES, ELOOP of a symlink loop).
 * Only a path of slashes alone is answered here: EEXIST, as the kernel does before any lookup.
 *
 * No magic links (RESOLVE_NO_MAGICLINKS): /proc/self and /proc/thread-self are the resolving
 * process's (the supervisor's worker thread, an impersonator), not the caller's, so /proc/self/root,
 * /cwd or /fd/N would reach their roots and fds, outside the caller's root. Such a path is ELOOP,
 * where the kernel would follow the caller's own link: the one way the emulation's answer differs.
 *
 * Every function returns 0 or a positive errno unless it says otherwise; none exits.
 */
#ifndef WASMSUP_AS_CALLER_H
#define WASMSUP_AS_CALLER_H

#include <linux/capability.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AS_CALLER_PATH_MAX 4096

/* ---- Capabilities ---- */

int as_caller_capget(struct __user_cap_data_struct caps[2]);
int as_caller_capset(const struct __user_cap_data_struct caps[2]);
/* capset from the three sets as lo, hi word pairs. */
int as_caller_capset_words(const uint32_t effective[2], const uint32_t permitted[2], const uint32_t inheritable[2]);

/* ---- The thread's own credentials, saved once and put back after every act as a caller ---- */

struct as_caller_own {
  uid_t fsuid;
  gid_t fsgid;
  int ngroups;
  gid_t *groups; /* the saver's buffer of groups_capacity */
  int groups_capacity;
  struct __user_cap_data_struct caps[2];
  /* Whether as_caller_switch_egid may be used (as_caller_save_own decides once): see there. */
  int egid_way;
};

/* Fills `own` (groups and groups_capacity set by the caller) from the calling thread; EINVAL when it
 * has more groups than the buffer holds. */
int as_caller_save_own(struct as_caller_own *own);

/* True when `groups` are exactly the thread's own: setgroups (a credential copy) can be skipped. */
int as_caller_own_groups(const struct as_caller_own *own, const gid_t *groups, uint32_t ngroups);

/* ---- Taking on a caller's file-system identity ---- */

/* What an emulation creates with: the caller's fsuid, fsgid and groups, which decide the walk's
 * permissions and the new node's owner, group and mode, and the effective capabilities the step
 * needs (every one of them is in the low word); permitted stays the thread's own, inheritable none. */
struct as_caller_identity {
  uint32_t fsuid, fsgid;
  uint32_t ngroups;
  const gid_t *groups;
  uint32_t effective;
};

/* Switches the calling thread to `id` (its groups only with `set_groups`). On failure *failed names
 * the step ("setgroups", "setfsuid", "capset") and part of it may be switched: as_caller_restore. */
int as_caller_switch(const struct as_caller_own *own, const struct as_caller_identity *id, int set_groups,
                     const char **failed);

/* Back to `own` (its groups too when `groups_changed`). 0, or the errno of a step the kernel refused:
 * the thread then holds something of a caller's and must never act again. Each credential change costs
 * the kernel a copy of the whole cred, so what the switch left alone is not redone. */
int as_caller_restore(const struct as_caller_own *own, int groups_changed);

/*
 * The cheaper switch of the addon's fast path: the gid side with setresgid(-1, fsgid, -1), raw and so
 * per thread, which carries the fs gid with the effective one and reports a refusal (setfsgid does not:
 * hence as_caller_switch's read-back of each), and back with setresgid(-1, own, -1); the uid side as
 * as_caller_switch (setfsuid, read back, capset of `effective`). Eight credential syscalls instead of
 * ten. The effective gid decides nothing for another process that the fs gid does not (signals,
 * ptrace, sched_setaffinity, setpriority look at uids; the thread's /proc files' group has no more
 * access than others).
 *
 * Not the uid side through setresuid(-1, fsuid, -1), although coming back from it would raise the
 * effective capabilities by itself (no capset) and need no read-backs: the effective uid is what the
 * kernel asks for when another process of that uid changes this thread's scheduling
 * (sched_setscheduler/sched_setaffinity's check_same_owner, setpriority), and, while another thread
 * has just made the process dumpable again, what owns this thread's /proc files (oom_score_adj,
 * coredump_filter): a caller's other processes that can see the thread would gain those during every
 * act.
 *
 * as_caller_save_own sets own->egid_way where coming back restores exactly: effective gid equal to
 * the fs gid. Otherwise as_caller_switch.
 */
int as_caller_switch_egid(const struct as_caller_own *own, const struct as_caller_identity *id, int set_groups,
                          const char **failed);

/* Back from as_caller_switch_egid: 0, or the errno of a step the kernel refused (the thread is then
 * tainted, as with as_caller_restore). */
int as_caller_restore_egid(const struct as_caller_own *own, int groups_changed);

/* ---- Roots ---- */

/* A root directory by mount and inode: while a thread is chrooted there it holds that mount, so the
 * mount id cannot be reused for another. */
struct as_caller_root {
  uint64_t mnt_id, ino;
  uint32_t dev_major, dev_minor;
};

/* The root `fd` names; ENOTSUP when the kernel gives no mount id (then no root is "the same"). */
int as_caller_root_of(int fd, struct as_caller_root *out);
int as_caller_same_root(const struct as_caller_root *a, const struct as_caller_root *b);
/* fchdir(root_fd) and chroot("."); on failure *failed names the step ("fchdir(root)", "chroot"). */
int as_caller_enter_root(int root_fd, const char **failed);

/* ---- Looking a caller's path up once, and creating ---- */

/* Where the last component of a non-empty path starts (0: the path is that component alone), or
 * (size_t)-1 when the path is nothing but slashes. */
size_t as_caller_path_last(const char *path);

/* openat2(dirfd, path[0..length), flags | O_CLOEXEC, RESOLVE_NO_MAGICLINKS): an fd, or -errno. */
int as_caller_path_open(int dirfd, const char *path, size_t length, int flags);

/* mknodat(dirfd, name, mode, dev), raw, so the 32-bit dev reaches the kernel exactly as the caller
 * passed it (glibc would re-encode a dev_t). The create step itself. */
int as_caller_raw_mknodat(int dirfd, const char *name, uint32_t mode, uint32_t dev);

/*
 * mknodat(dirfd, path, mode, dev) as the calling thread, its directory part looked up once as above
 * and the last component created in that directory fd. With EPERM and `eperm_directory` non-NULL,
 * *eperm_directory is an O_PATH fd of the directory it was refused in (the caller closes it);
 * otherwise it is -1.
 */
int as_caller_mknodat(int dirfd, const char *path, uint32_t mode, uint32_t dev, int *eperm_directory);

#ifdef __cplusplus
}
#endif

#endif
