/*
 * The parser of /proc/TID/status for the credential words (creds_layout.h), on the data plane's path
 * for every caller_creds: one pass over the text, numbers read by hand (strtoul's locale, sign and
 * base handling cost more than the file's plain digits need), and no pass past NoNewPrivs once every
 * line it looks for was seen (the rest of the file is the larger part and holds nothing of a
 * caller's credentials). Pure: no syscall, no allocation; a unit test feeds it real and odd files.
 */
#ifndef WASMSUP_PROC_STATUS_H
#define WASMSUP_PROC_STATUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Fills out[0..CREDS_WORDS) from status text [text, text + length): zeroes, then the Uid, Gid (4
 * each), Umask (0xffffffff when absent), Tgid, CapInh/CapPrm/CapEff/CapBnd (lo, hi), NoNewPrivs and
 * Groups lines, every group into out[CREDS_GROUPS..capacity) and their real count into
 * out[CREDS_NGROUPS]. A line with fewer numbers than expected fills what it has; a number stops at
 * the first character that is not a digit of its base and is kept modulo 2^32 (2^64 for capabilities).
 * Each line is read where it first appears (a real file has each once).
 */
void proc_status_parse(const char *text, size_t length, uint32_t *out, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif
