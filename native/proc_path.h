/*
 * "/proc/TID/<tail>" into a caller's buffer, by hand: the data plane builds such a path for every
 * notification it emulates, and snprintf's format machinery is a measurable part of that path's
 * CPU (docs/performance.md, (f)).
 */
#ifndef WASMSUP_PROC_PATH_H
#define WASMSUP_PROC_PATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Writes "/proc/<tid>/<tail>" with its NUL into buf (at least 18 + strlen(tail) bytes: a tid has
 * at most 10 digits); tid is a positive int32. Returns buf. */
static inline char *proc_path(char *buf, int32_t tid, const char *tail) {
  char digits[10];
  int n = 0;
  uint32_t t = (uint32_t)tid;
  do {
    digits[n++] = (char)('0' + t % 10);
    t /= 10;
  } while (t != 0);
  memcpy(buf, "/proc/", 6);
  char *p = buf + 6;
  while (n > 0) *p++ = digits[--n];
  *p++ = '/';
  size_t tail_length = strlen(tail);
  memcpy(p, tail, tail_length + 1);
  return buf;
}

#endif
