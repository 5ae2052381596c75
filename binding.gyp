{
  "targets": [
    {
      "target_name": "stowage_sys",
      "sources": ["native/sys.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
