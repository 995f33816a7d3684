# The benchmark harness (`make bench`) lives here; nothing in this folder is a test.
collect_ignore_glob = ["*.py"]
