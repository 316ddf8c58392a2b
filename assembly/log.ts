// Logging to the host's log. The message is encoded as UTF-8 into a static buffer (cut at 1 KiB),
// so logging a string literal allocates nothing; building the message by concatenation does.
import { log as hostLog } from "./host";

const CAPACITY: i32 = 1024;
const BUFFER: usize = memory.data(CAPACITY);

export namespace LogLevel {
  export const DEBUG: i32 = 0;
  export const INFO: i32 = 1;
  export const WARN: i32 = 2;
  export const ERROR: i32 = 3;
}

/** Writes `message` to the host's log at `level` (see LogLevel). */
export function log(level: i32, message: string): void {
  let out: i32 = 0;
  const n = message.length;
  for (let i = 0; i < n; i++) {
    let c = <u32>message.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
      const low = <u32>message.charCodeAt(i + 1);
      if (low >= 0xdc00 && low < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    const width: i32 = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (out + width > CAPACITY) break;
    const p = BUFFER + <usize>out;
    if (width == 1) {
      store<u8>(p, c);
    } else if (width == 2) {
      store<u8>(p, 0xc0 | (c >> 6));
      store<u8>(p, 0x80 | (c & 0x3f), 1);
    } else if (width == 3) {
      store<u8>(p, 0xe0 | (c >> 12));
      store<u8>(p, 0x80 | ((c >> 6) & 0x3f), 1);
      store<u8>(p, 0x80 | (c & 0x3f), 2);
    } else {
      store<u8>(p, 0xf0 | (c >> 18));
      store<u8>(p, 0x80 | ((c >> 12) & 0x3f), 1);
      store<u8>(p, 0x80 | ((c >> 6) & 0x3f), 2);
      store<u8>(p, 0x80 | (c & 0x3f), 3);
    }
    out += width;
  }
  hostLog(level, BUFFER, out);
}

export function logDebug(message: string): void { log(LogLevel.DEBUG, message); }
export function logInfo(message: string): void { log(LogLevel.INFO, message); }
export function logWarn(message: string): void { log(LogLevel.WARN, message); }
export function logError(message: string): void { log(LogLevel.ERROR, message); }
