{
  "targets": [
    {
      "target_name": "wasmsup_native",
      "sources": [
        "native/addon.cc",
        "native/args.cc",
        "native/as_caller.c",
        "native/as_caller_ops.c",
        "native/bpf.cc",
        "native/dataplane.cc",
        "native/errors.cc",
        "native/fdinfo.cc",
        "native/fds.cc",
        "native/impersonate.cc",
        "native/interrupt.cc",
        "native/memfd.cc",
        "native/xattr.cc",
        "native/memory.cc",
        "native/proc.cc",
        "native/proc_status.c",
        "native/raw_args.cc",
        "native/seccomp.cc",
        "native/sched.cc",
        "native/signals.cc",
        "native/socket.cc",
        "native/sysinfo.cc",
        "native/watch.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-exceptions"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions"],
      "cflags_cc!": ["-std=gnu++17", "-fexceptions"]
    },
    {
      "target_name": "wasmsup-launch",
      "type": "executable",
      "sources": ["native/launcher.c"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-pthread"],
      "ldflags": ["-pthread"],
      "libraries": ["-pthread"]
    },
    {
      "target_name": "wasmsup-helper",
      "type": "executable",
      "sources": [
        "native/helper.c",
        "native/helper_wire.c",
        "native/helper_creds.c",
        "native/helper_child.c",
        "native/helper_pool.c",
        "native/helper_impersonator.c",
        "native/helper_mknod.c",
        "native/helper_setxattr.c",
        "native/helper_getxattr.c",
        "native/helper_mount.c",
        "native/helper_as_caller.c",
        "native/as_caller.c",
        "native/as_caller_ops.c"
      ],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra"]
    }
  ]
}
