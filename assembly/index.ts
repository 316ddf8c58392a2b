// The wasmsup policy SDK, imported by policies as "wasmsup". See docs/writing-policies.md.
export { Notification, Decision, Primitive, Containment, Arch, noOpinion, continueCall, allow, fail, killWorkload, freezeWorkload, returnValue, emulate, emulateOpen, emulateSysinfo, SysinfoSource, emulateSched, SchedPolicy, emulateMount, MountOption, emulateProcView, ProcView, emulateGetxattr } from "./notification";
export { Errno } from "./errno";
export { Creds, Cap, UNMAPPED_ID } from "./creds";
export { readBytes, readString, readU32, readI32, readU64, readStruct, bytesEqual, bytesEqualBytes, bytesStartWith } from "./target";
export { log, logDebug, logInfo, logWarn, logError, LogLevel } from "./log";
export { intercept, arg, Interception, Condition, ArgRef, MaskedArgRef } from "./interest";
export { S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO, devMajor, devMinor, makeDev } from "./stat";
export { Sys } from "./syscalls";
export { invented, inventedIndex, INVENTED_NR_BASE, INVENTED_SYS_BASE, INVENTED_COUNT } from "./invented";
export { OpenHow, CloneArgs, readExtensibleStruct, O, Resolve, Clone } from "./structs";
export { FdInfo, AddressFamily, FsMagic } from "./fdinfo";
export { Json, JsonKind, JSON_MAX_DEPTH } from "./json";
export { configuration, refuse, identity } from "./config";
export { writeOut, writeOutBytes } from "./out";
export { asCaller, AsCaller } from "./as-caller";
