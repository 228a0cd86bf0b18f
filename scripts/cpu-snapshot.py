#!/usr/bin/env python3
"""CPU seconds (user + system) of the stack's processes (the services, the load generator and
PostgreSQL's), keyed by pid, written as JSON to the file named: nothing else running on the
machine is counted. Used by scripts/bench-engines.sh. Linux only (reads /proc)."""
import json, os, sys

tick = os.sysconf('SC_CLK_TCK')
out = {}
ours = {'registry', 'settlement', 'supervision', 'gateway', 'medicare', 'postgres'}
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        comm = open(f'/proc/{pid}/comm').read().strip()
        if comm not in ours:
            continue
        stat = open(f'/proc/{pid}/stat').read()
    except OSError:
        continue
    fields = stat[stat.rindex(')') + 2:].split()
    out[pid] = [comm, (int(fields[11]) + int(fields[12])) / tick]
json.dump(out, open(sys.argv[1], 'w'))
