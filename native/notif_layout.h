/*
 * struct seccomp_notif (the kernel's notification, 80 bytes) seen as 32-bit words, the way the
 * TypeScript data plane reads it (a Uint32Array over the receive buffer; 64-bit fields are lo, hi on
 * the little-endian machines wasmsup runs on). The one definition: native/seccomp.cc checks it
 * against the kernel header, the addon exports it as native.constants.NOTIF_WORD_*, and
 * src/native.ts as `NotifWords`.
 */
#ifndef WASMSUP_NOTIF_LAYOUT_H
#define WASMSUP_NOTIF_LAYOUT_H

enum {
  NOTIF_WORD_ID = 0,     /* u64 id: lo, hi */
  NOTIF_WORD_PID = 2,    /* the calling thread's tid, in the listener's pid namespace */
  NOTIF_WORD_FLAGS = 3,
  NOTIF_WORD_NR = 4,     /* seccomp_data.nr */
  NOTIF_WORD_ARCH = 5,   /* seccomp_data.arch (AUDIT_ARCH_*) */
  NOTIF_WORD_IP = 6,     /* u64 instruction pointer: lo, hi */
  NOTIF_WORD_ARGS = 8,   /* u64 args[6]: args[i] lo at NOTIF_WORD_ARGS + 2 * i, hi one after */
  NOTIF_WORDS = 20       /* sizeof(struct seccomp_notif) / 4 */
};

/*
 * The host's notification buffer (128 bytes, src/layouts.ts) holds the struct, then the portable id
 * (word 20, the host's), then, at byte 88, the CLOCK_MONOTONIC time in ns (a double) at which the
 * native data plane received it (native/dataplane.cc), for the audit log.
 */
enum {
  NOTIF_BYTE_RECEIVED_NS = 88,
  NOTIF_BUFFER_MIN_BYTES = 96
};

#endif
