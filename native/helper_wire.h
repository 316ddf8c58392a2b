/*
 * The wire format of wasmsup-helper: the one definition. The TypeScript client
 * (src/emulate/helper-client.ts) and docs/native-api.md point here.
 *
 * Fd 3 of the helper is a SOCK_SEQPACKET socket to the supervisor. One message is one request; the
 * helper answers each before it reads the next. Host byte order throughout.
 *
 * Request, one message:
 *   offset  size            field
 *     0     u32             op: 1 = MKNOD, 2 = SETXATTR
 *     4     u32             mode      raw mknodat() mode argument        (SETXATTR: xattr_flags)
 *     8     u32             dev       raw mknodat() dev argument, the    (SETXATTR: at_flags)
 *                                     kernel's 32-bit encoding, passed on unchanged
 *    12     u32             umask     the caller's (0..0777)
 *    16     u32 x 4         uid       real, effective, saved, fs
 *    32     u32 x 4         gid       real, effective, saved, fs
 *    48     u32 x 2         cap_inheritable  low, high word
 *    56     u32 x 2         cap_permitted
 *    64     u32 x 2         cap_effective
 *    72     u32             ngroups   0..65536: the caller's whole list, never a cut one
 *    76     u32             path_length  1..4095 (SETXATTR with AT_EMPTY_PATH: 0)
 *    80     u32 x ngroups   supplementary groups
 *     ..    path_length     path, no NUL
 *   SETXATTR only, after the path:
 *     ..    u32             name_length  1..255
 *     ..    u32             value_length 0..255
 *     ..    name_length     name, no NUL
 *     ..    value_length    value
 *   SCM_RIGHTS: root_fd (the caller's /proc/TID/root, a directory), userns_fd (its /proc/TID/ns/user),
 *   and a third fd only when the path is relative (start_fd: the caller's cwd or its *at() dirfd) or,
 *   for SETXATTR with AT_EMPTY_PATH, the caller's own open file (fetched with pidfd_getfd).
 *   Ids are as seen from the helper's user namespace (that of the supervisor).
 *
 *   SETXATTR's reinterpreted words: xattr_flags is XATTR_CREATE (1) | XATTR_REPLACE (2) as the caller
 *   passed them, or XATTR_REMOVE_REQUEST (4) alone for removexattr (value_length 0); at_flags is AT_SYMLINK_NOFOLLOW (0x100: lsetxattr) or AT_EMPTY_PATH (0x1000:
 *   fsetxattr, no path) or 0 (setxattr).
 *
 * OP_AS_CALLER (a call performed as the caller, native/as_caller_ops.h), after the path (path_length
 * 0 for the f* and AT_EMPTY_PATH forms; mode and dev as MKNOD's, the call's mode for MKDIR/CHMOD):
 *     ..    u32 x 13        AS_CALLER_WIRE_* words below (op, flags, ids, lend, fd mask, lengths)
 *     ..    path2_length    path2, no NUL (0..4095: rename/link's new path, symlink's linkpath)
 *     ..    name_length     xattr name, no NUL (0..255)
 *     ..    value_length    xattr value (0..65536)
 *   SCM_RIGHTS: root_fd, userns_fd, then start_fd, start2_fd, target_fd as the fd mask says.
 *
 * Response, one message: i32, the errno the caller must see (0 = done).
 *
 * Every field is checked (sizes add up, no NUL in the path or name, exactly the right number of fds,
 * directories where directories are expected, userns_fd really a user namespace); a request that
 * fails a check is answered EINVAL (ENOTDIR for a relative path's start_fd that is no directory, as
 * the kernel would answer) and never ends the helper. It exits 0 at end of stream.
 *
 * Between the helper and its own children (helper_pool.c, helper_child.c), on a socketpair each:
 *   helper -> impersonator: struct impersonation, then the path (no NUL);
 *                           SCM_RIGHTS [root_fd] or [root_fd, start_fd].
 *   impersonator or per-request child -> helper: struct child_answer, and with it at most one fd
 *     (MKNOD with EPERM: the O_PATH fd of the directory the caller was refused in; SETXATTR: the
 *     O_PATH fd of the file it vetted).
 */
#ifndef WASMSUP_HELPER_WIRE_H
#define WASMSUP_HELPER_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "creds_layout.h"

#define OP_MKNOD 1
#define OP_SETXATTR 2
#define OP_AS_CALLER 3
#define OP_MOUNT 4
#define OP_GETXATTR 6

/*
 * OP_GETXATTR (native/helper_getxattr.c) reuses SETXATTR's layout: mode (offset 4) is
 * GETXATTR_GET_REQUEST (0: getxattr of the one name) or GETXATTR_LIST_REQUEST (1: listxattr with the
 * managed names), dev (offset 8) at_flags as SETXATTR's; after the path u32 name_length (1..255),
 * u32 value_length (0), then the name: for GET one name (no NUL), for LIST the managed names
 * separated by single NULs (none empty). SCM_RIGHTS as SETXATTR's (AT_EMPTY_PATH: the caller's open
 * file, never O_PATH).
 * Response, one message: i32 errno, u32 length, then `length` bytes (0 after an error): GET the
 * value (0..GETXATTR_VALUE_MAX), LIST the caller's own list followed by the managed names present
 * (NUL-terminated names, 0..GETXATTR_LIST_MAX).
 */
#define GETXATTR_GET_REQUEST 0
#define GETXATTR_LIST_REQUEST 1
#define GETXATTR_VALUE_MAX 65536 /* the kernel's XATTR_SIZE_MAX */
#define GETXATTR_LIST_MAX 65536  /* the kernel's XATTR_LIST_MAX */
#define GETXATTR_ANSWER_LIMIT 65536

/*
 * OP_MOUNT (native/helper_mount.c) reuses the header, with these meanings:
 *   mode (offset 4)         MOUNT_ATTR_* of the new mount (fsmount's attr_flags), as the supervisor
 *                           computed them (nosuid, nodev unless the policy allows suid/dev)
 *   dev (offset 8)          MOUNT_WANT_* bits below; with MOUNT_REQUEST_UMOUNT, umount2's flags
 *   path_length (offset 76) the source's length (1..4095; 0 for an umount)
 * After the groups: u32 target_length (1..4095), u32 fstype_length (1..63; 0 for an umount),
 * u32 options_length (0..4095), then source, target, fstype, options (no NUL in any), and for an
 * umount u32 count (1..WIRE_MOUNT_MAX_TRACKED) and that many u64 ids of mounts the supervisor tracks.
 * SCM_RIGHTS: root_fd, userns_fd, cwd_fd (the caller's cwd, always), mntns_fd (its /proc/TID/ns/mnt),
 * with MOUNT_HAS_CGROUP cgroup_fd (its cgroup2 cgroup.procs, write-only: the children that act as
 * the caller join its cgroup), and with MOUNT_WANT_FUSE pidns_fd (its /proc/TID/ns/pid) last; the
 * fstype field then holds the FUSE
 * program's file name (1..63 of [A-Za-z0-9._+-]).
 * Response, one message of 16 bytes: i32 errno, u32 0, u64 the mount's id (STATX_MNT_ID_UNIQUE, or
 * STATX_MNT_ID before Linux 6.8; 0 when there is none). An umount whose path no longer names the
 * tracked mount answers EAGAIN with the id the path names.
 */
#define MOUNT_WANT_RDONLY 1u   /* superblock "ro"; the source is opened read-only */
#define MOUNT_WANT_SYNC 2u     /* superblock "sync" */
#define MOUNT_WANT_DIRSYNC 4u  /* superblock "dirsync" */
#define MOUNT_WANT_LAZYTIME 8u /* superblock "lazytime" */
#define MOUNT_WANT_SB_FLAGS 15u
#define MOUNT_WANT_SHIFT 0x100u /* idmap the mount with the caller's user namespace */
#define MOUNT_WANT_FUSE 0x200u  /* run the FUSE program named in the fstype field instead (last fd: pidns) */
#define MOUNT_HAS_CGROUP 0x400u /* the 5th fd is the caller's cgroup2 cgroup.procs, opened for writing */
#define MOUNT_REQUEST_UMOUNT 0x80000000u
#define WIRE_MOUNT_FSTYPE_MAX 63
#define WIRE_MOUNT_MAX_TRACKED 64
#define WIRE_MOUNT_MAX_REQUEST_BYTES (WIRE_HEADER_BYTES + 4 * WIRE_MAX_GROUPS + 12 + 3 * WIRE_MAX_PATH_LENGTH + WIRE_MOUNT_FSTYPE_MAX + 4 + 8 * WIRE_MOUNT_MAX_TRACKED)

/* Byte offsets of the request's header fields. */
enum {
  WIRE_OP = 0,
  WIRE_MODE = 4,
  WIRE_DEV = 8,
  WIRE_UMASK = 12,
  WIRE_UID = 16,
  WIRE_GID = 32,
  WIRE_CAP_INHERITABLE = 48,
  WIRE_CAP_PERMITTED = 56,
  WIRE_CAP_EFFECTIVE = 64,
  WIRE_NGROUPS = 72,
  WIRE_PATH_LENGTH = 76,
  WIRE_HEADER_BYTES = 80
};

#define WIRE_MAX_GROUPS CREDS_NGROUPS_MAX
#define WIRE_MAX_PATH_LENGTH 4095 /* PATH_MAX less the NUL */
#define XATTR_NAME_LIMIT 255      /* the kernel's XATTR_NAME_MAX */
#define XATTR_VALUE_LIMIT 255     /* the supervisor only ever sets short overlayfs values */
/* OP_AS_CALLER's words after the path (AS_CALLER_WIRE_*), then path2, name and value. */
enum {
  AS_CALLER_WIRE_OP,
  AS_CALLER_WIRE_FLAGS,
  AS_CALLER_WIRE_RENAME_FLAGS,
  AS_CALLER_WIRE_UID,      /* as the caller's user namespace names it (the caller's own argument) */
  AS_CALLER_WIRE_GID,
  AS_CALLER_WIRE_HOST_UID, /* the same mapped into the helper's namespace (the lend step's), or -1 */
  AS_CALLER_WIRE_HOST_GID,
  AS_CALLER_WIRE_XATTR_FLAGS,
  AS_CALLER_WIRE_LEND,     /* capabilities lent, low word (bits 0..31) */
  AS_CALLER_WIRE_FD_MASK,  /* which fds follow root and userns: 1 start, 2 start2, 4 target, in that order */
  AS_CALLER_WIRE_PATH2_LENGTH,
  AS_CALLER_WIRE_NAME_LENGTH,
  AS_CALLER_WIRE_VALUE_LENGTH,
  AS_CALLER_WIRE_WORDS
};
#define AS_CALLER_VALUE_LIMIT 65536 /* the kernel's XATTR_SIZE_MAX */
#define WIRE_MAX_REQUEST_BYTES                                                                                 \
  (WIRE_HEADER_BYTES + 4 * WIRE_MAX_GROUPS + WIRE_MAX_PATH_LENGTH + 4 * AS_CALLER_WIRE_WORDS + WIRE_MAX_PATH_LENGTH + \
   XATTR_NAME_LIMIT + AS_CALLER_VALUE_LIMIT)
#define WIRE_MAX_REQUEST_FDS 5
/* SETXATTR's xattr_flags bit asking for removexattr of the name (value_length 0); never a kernel bit. */
#define XATTR_REMOVE_REQUEST 4

/* One request of either op, checked; the fields after target_fd are SETXATTR's. */
struct helper_request {
  uint32_t op;
  uint32_t mode, dev, umask;
  uint32_t uid[4], gid[4];
  uint32_t cap_inheritable[2], cap_permitted[2], cap_effective[2];
  uint32_t ngroups;
  gid_t groups[WIRE_MAX_GROUPS];
  char path[WIRE_MAX_PATH_LENGTH + 1];
  int root_fd, userns_fd, start_fd; /* start_fd -1 for an absolute path */
  int target_fd;                     /* SETXATTR with AT_EMPTY_PATH: the caller's open file; else -1 */
  uint32_t xattr_flags, at_flags, name_length, value_length;
  char name[XATTR_NAME_LIMIT + 1];
  unsigned char value[AS_CALLER_VALUE_LIMIT];
  /* OP_AS_CALLER only */
  uint32_t call_op, call_flags, rename_flags, call_uid, call_gid, host_uid, host_gid, lend;
  int start2_fd; /* -1 when path2 is absolute or there is none */
  char path2[WIRE_MAX_PATH_LENGTH + 1];
};

/* Checks every field of one received message and fills req (the fds are only borrowed). 0 or the
 * errno to answer. */
int wire_parse_request(const unsigned char *buf, size_t length, const int *fds, size_t nfds, struct helper_request *req);
/* The u32 at `offset` of a message (little-endian, unaligned). */
uint32_t wire_word(const unsigned char *buf, size_t offset);
/* The caller's identity every request carries after its op (umask, ids, capabilities, group count, at
 * WIRE_UMASK..WIRE_NGROUPS) into `req`; EINVAL for a umask above 0777 or more than WIRE_MAX_GROUPS groups. */
int wire_parse_identity(const unsigned char *buf, struct helper_request *req);

/* ---- Messages with fds (SCM_RIGHTS), in both directions ---- */

#define WIRE_MAX_FDS 16

/* One recvmsg (EINTR retried) of up to `capacity` bytes and WIRE_MAX_FDS fds, each O_CLOEXEC, into
 * fds[0..*nfds). *truncated when bytes or fds did not fit (the kernel closed the fds it dropped).
 * The byte count (0 at end of stream), or -errno. */
ssize_t wire_receive(int sock, void *buf, size_t capacity, int flags, int fds[WIRE_MAX_FDS], size_t *nfds, int *truncated);

/* One sendmsg (EINTR retried, MSG_NOSIGNAL) of `length` bytes and fds[0..nfds). 0 or errno. */
int wire_send(int sock, const void *buf, size_t length, const int *fds, size_t nfds);

void wire_close_fds(const int *fds, size_t nfds);

/* ---- The helper's own children ---- */

/* What the helper sends an impersonator: the reversible part of a request. */
struct impersonation {
  uint32_t mode, dev, umask;
  uint32_t cap_effective[2];
  uint32_t path_length;
};

/*
 * Whether the caller keeps a setgid bit it asks for in a setgid directory, as an impersonator found
 * it (helper_mknod.c, probe_setgid); the helper's create step, which holds capabilities of the
 * initial namespace, could not tell by itself.
 */
#define SETGID_UNKNOWN 0
#define SETGID_KEPT 1
#define SETGID_STRIPPED 2

/* An impersonator could not set up for this request (a root it cannot enter): the helper serves the
 * request by forking a child that takes on everything. Never an errno. */
#define NEED_FORK (-2)

/* A child's answer: an errno (or NEED_FORK) and a SETGID_* word. */
struct child_answer {
  int32_t err;
  int32_t setgid;
};

/* Sends an answer and at most one fd (-1: none); errors are the receiver's end of stream. */
void wire_send_answer(int sock, int err, int setgid, int fd);

/* Receives an answer: its err, *fd the fd it carried or -1 (any more are closed), *setgid (when not
 * NULL) its SETGID_* word. -1 when there is none: the child died or said nothing. */
int wire_receive_answer(int sock, int flags, int *fd, int *setgid);
/* The same with up to `max_fds` fds (any more are closed; none are kept when it returns -1). */
int wire_receive_answer_fds(int sock, int flags, int *fds, size_t max_fds, size_t *nfds, int *word);
/* Sends an answer with fds[0..nfds). */
void wire_send_answer_fds(int sock, int err, int word, const int *fds, size_t nfds);

#endif
