#include "errors.h"

#include <stdio.h>
#include <string.h>

namespace wasmsup {

namespace {

// Errno values stop well below this on every Linux architecture; names are looked up by scanning.
constexpr int kMaxErrno = 4096;

struct Alias {
  const char* name;
  int number;
};

// Second names for the same number: strerrorname_np() only reports one of each pair.
const Alias kAliases[] = {
    {"EWOULDBLOCK", EWOULDBLOCK},
    {"EDEADLOCK", EDEADLOCK},
    {"ENOTSUP", ENOTSUP},
};

}  // namespace

const char* ErrnoName(int err, char (&buf)[24]) {
  const char* name = err > 0 ? strerrorname_np(err) : nullptr;
  if (name != nullptr) {
    snprintf(buf, sizeof buf, "%s", name);
  } else {
    snprintf(buf, sizeof buf, "E%d", err);
  }
  return buf;
}

int ErrnoNumber(const char* name) {
  for (const Alias& alias : kAliases) {
    if (strcmp(alias.name, name) == 0) return alias.number;
  }
  for (int n = 1; n < kMaxErrno; n++) {
    const char* candidate = strerrorname_np(n);
    if (candidate != nullptr && strcmp(candidate, name) == 0) return n;
  }
  return -1;
}

Napi::Value ThrowErrno(Napi::Env env, const char* syscall, int err) {
  char code[24];
  ErrnoName(err, code);
  char message[256];
  snprintf(message, sizeof message, "%s: %s (%s)", syscall, strerror(err), code);
  Napi::Error error = Napi::Error::New(env, message);
  if (env.IsExceptionPending()) return Napi::Value();
  Napi::Object object = error.Value();
  object.Set("code", Napi::String::New(env, code));
  object.Set("errno", Napi::Number::New(env, err));
  object.Set("syscall", Napi::String::New(env, syscall));
  if (!env.IsExceptionPending()) error.ThrowAsJavaScriptException();
  return Napi::Value();
}

Napi::Value ThrowTypeError(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return Napi::Value();
}

Napi::Value ThrowRangeError(Napi::Env env, const char* message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
  return Napi::Value();
}

}  // namespace wasmsup
