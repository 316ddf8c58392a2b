// The wasmsup policy SDK, imported by policies as "wasmsup". See docs/writing-policies.md.
export { Notification, Decision, Primitive, Arch, noOpinion, continueCall, allow, fail, returnValue, emulate } from "./notification";
export { Errno } from "./errno";
export { Creds, Cap, UNMAPPED_ID } from "./creds";
export { readBytes, readString, readU32, readI32, readU64, readStruct, bytesEqual, bytesStartWith } from "./target";
export { log, logDebug, logInfo, logWarn, logError, LogLevel } from "./log";
export { intercept, arg, Interception, Condition, ArgRef, MaskedArgRef } from "./interest";
export { S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO, devMajor, devMinor, makeDev } from "./stat";
export { Sys } from "./syscalls";
