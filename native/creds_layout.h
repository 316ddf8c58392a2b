/*
 * The credential words: what readCreds/readCredsFd (native/proc.cc) fill from /proc/TID/status,
 * one Uint32 each, and what the fast path (native/impersonate.cc) reads back. The one definition:
 * the addon exports every offset as native.constants.CREDS_* and src/native.ts builds its `Creds`
 * from them. Ids are as seen from the supervisor's user namespace; capability sets are lo, hi.
 */
#ifndef WASMSUP_CREDS_LAYOUT_H
#define WASMSUP_CREDS_LAYOUT_H

enum {
  CREDS_UID = 0,           /* 4 words: real, effective, saved, fs */
  CREDS_GID = 4,           /* 4 words: real, effective, saved, fs */
  CREDS_UMASK = 8,         /* 0xffffffff when the kernel does not show it */
  CREDS_TGID = 9,
  CREDS_CAP_INH = 10,      /* 2 words each: lo, hi */
  CREDS_CAP_PRM = 12,
  CREDS_CAP_EFF = 14,
  CREDS_CAP_BND = 16,
  CREDS_NO_NEW_PRIVS = 18,
  CREDS_NGROUPS = 19,      /* the caller's real count of groups, never cut to what the buffer holds */
  CREDS_USERNS_INODE = 20, /* 2 words, lo, hi: its user namespace's inode when readCredsFd was asked for it, else 0 */
  CREDS_GROUPS = 32,       /* groups from here to the end of the buffer, which may be longer */
  CREDS_WORDS = 96,        /* the smallest buffer: CREDS_WORDS - CREDS_GROUPS groups */
  CREDS_NGROUPS_MAX = 65536 /* the kernel's NGROUPS_MAX: CREDS_GROUPS + this many words hold any caller's */
};

#define CREDS_FSUID (CREDS_UID + 3)
#define CREDS_FSGID (CREDS_GID + 3)

#endif
