{
  "targets": [
    {
      "target_name": "kubepulse",
      "sources": [
        "native/addon.cc",
        "native/bpf_object.cc",
        "native/errors.cc",
        "native/event_poller.cc",
        "native/layouts.cc",
        "native/libbpf_log.cc",
        "native/libbpf_static_shim.c"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "bpf"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": [
        "-Wl,-Bstatic", "-lbpf", "-lz", "-Wl,-Bdynamic", "-lelf",
        "-Wl,--exclude-libs,ALL"
      ]
    }
  ]
}
