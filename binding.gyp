{
  "targets": [
    {
      "target_name": "stowage_sys",
      "sources": ["native/sys.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "stowage_pty",
      "sources": ["native/pty.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "stowage_warm",
      "sources": ["native/warm.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "stowage_client",
      "type": "executable",
      "sources": ["native/client.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "stowage_nsrun",
      "type": "executable",
      "sources": ["native/nsrun.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
