// Errors as the contract (docs/native-api.md) shapes them. The addon is built without C++
// exceptions: every helper here sets a pending JavaScript exception and the caller returns at once
// (functions returning Napi::Value return the empty Value ThrowErrno hands back).
#ifndef WASMSUP_ERRORS_H
#define WASMSUP_ERRORS_H

#include <napi.h>

namespace wasmsup {

// Writes "ENOENT" (or "E<n>" for numbers the C library has no name for) into buf, returns buf.
const char* ErrnoName(int err, char (&buf)[24]);

// The errno number for a name such as "ENOENT" (aliases like "EWOULDBLOCK" included), or -1.
int ErrnoNumber(const char* name);

// Throws Error "<syscall>: <strerror> (<CODE>)" with code, errno (positive) and syscall properties.
Napi::Value ThrowErrno(Napi::Env env, const char* syscall, int err);
Napi::Value ThrowTypeError(Napi::Env env, const char* message);
Napi::Value ThrowRangeError(Napi::Env env, const char* message);

}  // namespace wasmsup

#endif
