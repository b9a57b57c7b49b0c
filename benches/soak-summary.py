"""Summarises a `benches/soak.sh` run as a Markdown table, ten minutes a row.

    python3 benches/soak-summary.py /tmp/soak
"""

import re
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1])
BUCKET = 600


def windows(signal):
    rows = []
    for line in (out / f"soak-{signal}.txt").read_text().splitlines():
        if line.startswith("window "):
            rows.append({k: float(v) if v else 0.0 for k, v in re.findall(r"(\w+)=([\d.]*)", line)})
    return rows


def buckets(rows, key):
    grouped = {}
    for r in rows:
        grouped.setdefault(int((r[key] - 1) // BUCKET), []).append(r)
    return grouped


signals = {s: buckets(windows(s), "t_s") for s in ("traces", "lines", "metrics")}
start = None
queries = []
for line in (out / "queries.txt").read_text().splitlines():
    t, name, code, secs = line.split()
    start = start or int(t)
    queries.append({"t": int(t) - start + 1, "name": name, "code": code, "s": float(secs)})
query_buckets = buckets(queries, "t")
# The server's own memory (RssAnon): from the load generators' windows, or from a sampler's
# `rss.txt` (epoch, RssAnon KiB, RssFile KiB) for runs whose windows lack it.
anon = {}
for r in windows("traces"):
    if r.get("server_rss_anon_kib"):
        anon.setdefault(int((r["t_s"] - 1) // BUCKET), []).append(r["server_rss_anon_kib"] / 1024)
disk = {}
for line in (out / "disk.txt").read_text().splitlines():
    t, size = map(int, line.split())
    disk[int((t - start) // BUCKET)] = size

# What the stores held in memory (from Lookout's /metrics), for runs that recorded it.
head = {}
if (out / "gauges.txt").exists():
    for line in (out / "gauges.txt").read_text().splitlines():
        t, name, value = line.split()
        if name == "lookout_tsdb_head_chunks":
            head.setdefault(int((int(t) - start) // BUCKET), []).append(float(value))

if not anon and (out / "rss.txt").exists():
    for line in (out / "rss.txt").read_text().splitlines():
        t, a, _ = map(int, line.split())
        anon.setdefault(int((t - start) // BUCKET), []).append(a / 1024)
print("| minutes | spans/s | lines/s | points/s | request p99 ms (spans / lines / points, worst minute) "
      "| failed requests | server RSS MiB (min–max) | of it anonymous MiB (min–max) | query p50 ms (PromQL / LogQL / TraceQL) | non-200 | data on disk |"
      + (" metrics head chunks (max) |" if head else ""))
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if head else ""))
for b in sorted(signals["traces"]):
    rate = lambda s: statistics.mean(r["items_per_s"] for r in signals[s].get(b, [{"items_per_s": 0}]))
    p99 = " / ".join(f"{max(r['latency_p99_ms'] for r in signals[s].get(b, [{'latency_p99_ms': 0}])):.0f}" for s in signals)
    failed = sum(r["requests_failed"] for s in signals for r in signals[s].get(b, []))
    rss = [r["server_rss_kib"] / 1024 for r in signals["traces"][b]]
    qs = query_buckets.get(b, [])
    q50 = " / ".join(
        f"{statistics.median([q['s'] for q in qs if q['name'] == n] or [0]) * 1e3:.0f}" for n in ("promql", "logql", "traceql")
    )
    bad = sum(q["code"] != "200" for q in qs)
    size = f"{disk[b] / 1e9:.1f} GB" if b in disk else ""
    own = f"{min(anon[b]):.0f}–{max(anon[b]):.0f}" if b in anon else "not sampled"
    print(f"| {b * 10}–{b * 10 + 10} | {rate('traces'):,.0f} | {rate('lines'):,.0f} | {rate('metrics'):,.0f} | {p99} "
          f"| {failed:.0f} | {min(rss):.0f}–{max(rss):.0f} | {own} | {q50} | {bad} | {size} |"
          + (f" {max(head.get(b, [0])):,.0f} |" if head else ""))
