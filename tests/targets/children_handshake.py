"""children.py behind a handshake, for `scope attach --follow`:
children_handshake.py READY_FIFO GO_FIFO [fork|spawn] [workers]."""
import sys

import children

ready_path, go_path = sys.argv[1], sys.argv[2]
sys.argv = [sys.argv[0], *sys.argv[3:]]
with open(ready_path, "w") as ready:
    ready.write("ready\n")
    ready.flush()
    with open(go_path) as go:
        go.readline()
    children.main()
    ready.write("done\n")
    ready.flush()
    with open(go_path) as go:      # stay alive until told to end
        go.readline()
