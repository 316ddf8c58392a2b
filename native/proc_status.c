/* The /proc/TID/status parser: see proc_status.h. */
#include "proc_status.h"

#include <string.h>

#include "creds_layout.h"

static const char *skip_blanks(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  return p;
}

/* Each byte's value as a digit plus one: 1..16 for 0-9, a-f, A-F, 0 for any other byte, so that
 * value - 1 is at least any base for a non-digit (one load a digit). */
static const unsigned char kDigitPlusOne[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* One number at *p (after blanks) into *value; false when there is none. Advances *p past it. */
static int parse_number(const char **p, const char *end, unsigned base, uint64_t *value) {
  const char *q = skip_blanks(*p, end);
  uint64_t v = 0;
  const char *start = q;
  for (unsigned d; q < end && (d = kDigitPlusOne[(unsigned char)*q] - 1u) < base; q++) v = v * base + d;
  *p = q;
  *value = v;
  return q != start;
}

static void parse_numbers(const char *p, const char *end, unsigned base, uint32_t *out, size_t count) {
  uint64_t v;
  for (size_t i = 0; i < count && parse_number(&p, end, base, &v); i++) out[i] = (uint32_t)v;
}

static void parse_capability(const char *p, const char *end, uint32_t *out) {
  uint64_t v;
  if (!parse_number(&p, end, 16, &v)) v = 0;
  out[0] = (uint32_t)v;
  out[1] = (uint32_t)(v >> 32);
}

static void parse_groups(const char *p, const char *end, uint32_t *out, size_t capacity) {
  uint32_t count = 0;
  uint64_t v;
  while (parse_number(&p, end, 10, &v)) {
    if (CREDS_GROUPS + (size_t)count < capacity) out[CREDS_GROUPS + count] = (uint32_t)v;
    count++;
  }
  out[CREDS_NGROUPS] = count;
}

/* The lines read, one bit each: all seen, the rest of the file is skipped. */
enum {
  SEEN_UID = 1, SEEN_GID = 2, SEEN_UMASK = 4, SEEN_TGID = 8, SEEN_CAP_INH = 16, SEEN_CAP_PRM = 32,
  SEEN_CAP_EFF = 64, SEEN_CAP_BND = 128, SEEN_NO_NEW_PRIVS = 256, SEEN_GROUPS = 512, SEEN_ALL = 1023
};

/* Whether the line at [line, line_end) starts with `key` (which ends in ':'); its value then starts at *value. */
static int key_is(const char *line, const char *line_end, const char *key, size_t key_length, const char **value) {
  if ((size_t)(line_end - line) < key_length || memcmp(line, key, key_length) != 0) return 0;
  *value = line + key_length;
  return 1;
}
#define KEY(k) (k), sizeof(k) - 1

void proc_status_parse(const char *text, size_t length, uint32_t *out, size_t capacity) {
  memset(out, 0, CREDS_WORDS * sizeof(uint32_t));
  out[CREDS_UMASK] = 0xffffffffu;
  const char *end = text + length;
  unsigned seen = 0;
  for (const char *line = text; line < end && seen != SEEN_ALL;) {
    const char *newline = memchr(line, '\n', (size_t)(end - line));
    const char *line_end = newline != NULL ? newline : end;
    const char *v;
    /* By first letter: most lines are ruled out by one comparison. A line already read (never
     * twice in a real file) is not read again. */
#define LINE(k, bit, parse)                                                   \
  if (!(seen & (bit)) && key_is(line, line_end, KEY(k), &v)) {               \
    seen |= (bit);                                                            \
    parse;                                                                    \
  }
    switch (*line) {
      case 'U':
        LINE("Uid:", SEEN_UID, parse_numbers(v, line_end, 10, out + CREDS_UID, 4))
        else LINE("Umask:", SEEN_UMASK, parse_numbers(v, line_end, 8, out + CREDS_UMASK, 1))
        break;
      case 'G':
        LINE("Gid:", SEEN_GID, parse_numbers(v, line_end, 10, out + CREDS_GID, 4))
        else LINE("Groups:", SEEN_GROUPS, parse_groups(v, line_end, out, capacity))
        break;
      case 'T':
        LINE("Tgid:", SEEN_TGID, parse_numbers(v, line_end, 10, out + CREDS_TGID, 1))
        break;
      case 'C':
        LINE("CapInh:", SEEN_CAP_INH, parse_capability(v, line_end, out + CREDS_CAP_INH))
        else LINE("CapPrm:", SEEN_CAP_PRM, parse_capability(v, line_end, out + CREDS_CAP_PRM))
        else LINE("CapEff:", SEEN_CAP_EFF, parse_capability(v, line_end, out + CREDS_CAP_EFF))
        else LINE("CapBnd:", SEEN_CAP_BND, parse_capability(v, line_end, out + CREDS_CAP_BND))
        break;
      case 'N':
        LINE("NoNewPrivs:", SEEN_NO_NEW_PRIVS, parse_numbers(v, line_end, 10, out + CREDS_NO_NEW_PRIVS, 1))
        break;
      default:
        break;
    }
#undef LINE
    line = line_end + 1;
  }
}
