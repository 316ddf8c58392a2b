/* Prints what sysinfo(2) returns, in bytes, one "key=value" per line.
 *   sysinfo-probe         the native call (struct sysinfo of this ABI)
 *   sysinfo-probe i386    the i386 compat call through int 0x80 (x86_64 only): struct compat_sysinfo */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>

static void print(const char *abi, long uptime, unsigned long long unit, unsigned long long totalram,
                  unsigned long long freeram, unsigned long long totalswap, unsigned long long freeswap,
                  unsigned procs) {
  printf("abi=%s\nuptime=%ld\nprocs=%u\nmem_unit=%llu\ntotalram=%llu\nfreeram=%llu\ntotalswap=%llu\nfreeswap=%llu\n",
         abi, uptime, procs, unit, totalram * unit, freeram * unit, totalswap * unit, freeswap * unit);
}

#if defined(__x86_64__)
struct compat_sysinfo {
  int32_t uptime;
  uint32_t loads[3];
  uint32_t totalram, freeram, sharedram, bufferram, totalswap, freeswap;
  uint16_t procs, pad;
  uint32_t totalhigh, freehigh, mem_unit;
  char f[8];
};

static int compat(void) {
  /* Pointers passed through int 0x80 are 32-bit: the struct must live below 4 GiB. */
  struct compat_sysinfo *si = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (si == MAP_FAILED) { perror("mmap"); return 1; }
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(116L /* i386 sysinfo */), "b"((long)si) : "memory");
  if (r != 0) { printf("error=%ld\n", -r); return 0; }
  print("i386", si->uptime, si->mem_unit, si->totalram, si->freeram, si->totalswap, si->freeswap, si->procs);
  return 0;
}
#endif

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "i386") == 0) {
#if defined(__x86_64__)
    return compat();
#else
    fprintf(stderr, "sysinfo-probe: i386 only on x86_64\n");
    return 2;
#endif
  }
  if (argc > 1 && strcmp(argv[1], "null") == 0) {
    int r = sysinfo(NULL);
    printf("null ret=%d errno=%d\n", r, r ? errno : 0);
    return 0;
  }
  struct sysinfo si;
  if (sysinfo(&si) != 0) { printf("error=%d\n", errno); return 0; }
  print("native", si.uptime, si.mem_unit, si.totalram, si.freeram, si.totalswap, si.freeswap, si.procs);
  return 0;
}
