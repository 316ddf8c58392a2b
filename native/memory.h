// Reading a caller's memory, for the parts of the addon that read it themselves (native/memory.cc).
#ifndef WASMSUP_MEMORY_H
#define WASMSUP_MEMORY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

namespace wasmsup {

// The NUL-terminated string at addr of pid into dst (at most max bytes, its NUL included): its length,
// or -errno: -EFAULT where nothing readable ends it, -ENAMETOOLONG when max bytes hold no NUL.
ssize_t ReadRemoteString(pid_t pid, uint64_t addr, uint8_t* dst, size_t max);

}  // namespace wasmsup

#endif
