// What one of the caller's fds refers to (the host's fd_info, docs/policy-abi.md, section 3): type,
// device and inode, open flags, socket family/type/protocol, file system, and path. Fetched into
// static buffers (no allocation); call `FdInfo.load(fd)` first, then read the getters.
import { fd_info } from "./host";

const BLOCK: usize = memory.data(80, 8);
const PATH_CAP: i32 = 4096;
const PATH: usize = memory.data(PATH_CAP);

export class FdInfo {
  /** Fetches the info of the caller's fd `fd` (with its path); 0 or -errno (-EBADF: no such fd, -ENOENT: the call is gone). */
  static load(fd: i32): i32 {
    return fd_info(fd, BLOCK, PATH, PATH_CAP);
  }
  /** st_mode: type (`& S_IFMT`) and permission bits. */
  static get mode(): u32 { return load<u32>(BLOCK); }
  static get type(): u32 { return load<u32>(BLOCK) & 0o170000; }
  /** fcntl(F_GETFL) of the open file: access mode (`& O.ACCMODE`), O_APPEND, O_NONBLOCK, O_PATH, ... */
  static get openFlags(): u32 { return load<u32>(BLOCK + 4); }
  static get devMajor(): u32 { return load<u32>(BLOCK + 8); }
  static get devMinor(): u32 { return load<u32>(BLOCK + 12); }
  static get ino(): u64 { return load<u64>(BLOCK + 16); }
  static get rdevMajor(): u32 { return load<u32>(BLOCK + 24); }
  static get rdevMinor(): u32 { return load<u32>(BLOCK + 28); }
  /** Owner and group as seen from the host. */
  static get uid(): u32 { return load<u32>(BLOCK + 32); }
  static get gid(): u32 { return load<u32>(BLOCK + 36); }
  static get size(): u64 { return load<u64>(BLOCK + 40); }
  /** AF_* of a socket (`AddressFamily`), -1 for anything else. */
  static get socketFamily(): i32 { return load<i32>(BLOCK + 48); }
  static get socketType(): i32 { return load<i32>(BLOCK + 52); }
  static get socketProtocol(): i32 { return load<i32>(BLOCK + 56); }
  /** statfs f_type of its file system (`FsMagic`). */
  static get fsType(): u32 { return load<u32>(BLOCK + 60); }
  /** Length of `path` (no NUL); -ENAMETOOLONG when it did not fit in 4096 bytes. */
  static get pathLength(): i32 { return load<i32>(BLOCK + 64); }
  /** The path bytes (pathLength of them). */
  static get path(): usize { return PATH; }
  /** The path is as the caller sees it from its own root. */
  static get pathInRoot(): bool { return (load<u32>(BLOCK + 68) & 1) != 0; }
  /** The file lies outside the caller's root; `path` is the host's view. */
  static get pathOutsideRoot(): bool { return (load<u32>(BLOCK + 68) & 2) != 0; }
  /** Not a file system path: "pipe:[N]", "socket:[N]", "anon_inode:[eventfd]", ... */
  static get notAPath(): bool { return (load<u32>(BLOCK + 68) & 4) != 0; }
}

/** Socket address families (linux/socket.h). */
export namespace AddressFamily {
  export const UNIX: i32 = 1;
  export const INET: i32 = 2;
  export const NETLINK: i32 = 16;
  export const PACKET: i32 = 17;
  export const INET6: i32 = 10;
  export const VSOCK: i32 = 40;
}

/** statfs f_type magic numbers (linux/magic.h). */
export namespace FsMagic {
  export const PROC: u32 = 0x9fa0;
  export const SYSFS: u32 = 0x62656572;
  export const TMPFS: u32 = 0x01021994;
  export const CGROUP2: u32 = 0x63677270;
  export const BPF: u32 = 0xcafe4a11;
  export const OVERLAYFS: u32 = 0x794c7630;
  export const EXT4: u32 = 0xef53;
  export const DEVPTS: u32 = 0x1cd1;
  export const PIPEFS: u32 = 0x50495045;
  export const SOCKFS: u32 = 0x534f434b;
}
