"""HTTP load on the real service with a real load generator (wrk) on loopback. Not part of the tests.

    python bench/service_load.py [--workers 2] [--concurrency 1 10 50 200] [--duration 20]
                                 [--database-url URL] [--out var/bench/service]

Starts ``triage serve`` (the shipped model, a fresh SQLite file unless --database-url), measures
start-to-ready, then for each concurrency runs wrk against POST /v1/classify with the starter test
texts in rotation (every request is classified and stored), and times 1,000-item batches. Writes
JSON, a markdown table and a PNG (latency and throughput against concurrency) to --out.
Needs wrk (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from triage.io import read_records  # noqa: E402

LUA = r"""
local bodies = {}
local n = 0
for line in io.lines(os.getenv("TRIAGE_BODIES")) do n = n + 1; bodies[n] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("TRIAGE_KEY")
request = function()
  i = i % n + 1
  return wrk.format(nil, "/v1/classify", nil, bodies[i])
end
-- Paced runs: each connection waits an exponentially distributed think time (mean
-- TRIAGE_THINK_MS) before its next request, like an intake client posting as messages arrive.
-- wrk measures latency from sending, so the think time is not counted in it.
local think = tonumber(os.getenv("TRIAGE_THINK_MS") or "0")
if think > 0 then
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  delay = function()
    return math.floor(-math.log(1 - math.random()) * think)
  end
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"max_us\": %d, \"errors_status\": %d, \"errors_connect\": %d, \"errors_timeout\": %d, \"errors_read\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.errors.status, summary.errors.connect, summary.errors.timeout, summary.errors.read))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mb(pid: int) -> float:
    """Proportional set size: pages shared between processes count once, split among them, so
    the sum over the supervisor and its workers is the memory the service really uses."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def start_service(workers: int, env: dict, port: int) -> tuple[subprocess.Popen, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "triage.cli", "serve", "--port", str(port), "--workers", str(workers),
         "--no-access-log", "--log-level", "warning"],
        env=env, cwd=REPO, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/readyz"
    while time.perf_counter() - t0 < 120:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc, time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("the service exited during start-up")
        time.sleep(0.05)
    raise SystemExit("the service did not become ready in 120 s")


def run_wrk(port: int, conc: int, duration: int, env: dict, lua: Path, offered_rps: float | None = None) -> dict:
    threads = max(1, min(conc, 2))
    cmd = ["wrk", "-t", str(threads), "-c", str(conc), "-d", f"{duration}s", "--timeout", "10s", "-s", str(lua),
           f"http://127.0.0.1:{port}"]
    if offered_rps:
        env = {**env, "TRIAGE_THINK_MS": str(1000 * conc / offered_rps)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}): {proc.stderr.strip()} {proc.stdout[-2000:]}")
    out = proc.stdout
    m = re.search(r"^JSON (.*)$", out, re.M)
    d = json.loads(m.group(1))
    secs = d["duration_us"] / 1e6
    errors = d["errors_status"] + d["errors_connect"] + d["errors_timeout"] + d["errors_read"]
    return {"concurrency": conc, "requests": d["requests"], "rps": round(d["requests"] / secs, 1),
            "p50_ms": d["p50_us"] / 1000, "p90_ms": d["p90_us"] / 1000, "p99_ms": d["p99_us"] / 1000,
            "max_ms": d["max_us"] / 1000, "errors": errors, "non_2xx": d["errors_status"],
            **({"offered_rps": offered_rps} if offered_rps else {})}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50, 200])
    ap.add_argument("--duration", type=int, default=20, help="seconds per concurrency level")
    ap.add_argument("--batches", type=int, default=5, help="1,000-item batches to time")
    ap.add_argument("--paced-rps", type=float, nargs="*", default=[500, 1000],
                    help="after the sweep: offered requests/s for paced runs at --paced-connections, each "
                         "connection waiting an exponential think time between requests (none: skip)")
    ap.add_argument("--paced-connections", type=int, default=50)
    ap.add_argument("--database-url")
    ap.add_argument("--soak", type=int, default=0, metavar="SECONDS",
                    help="instead of the sweep: one run of SECONDS at --soak-connections, sampling each "
                         "worker's resident memory every 10 s (growth is reported)")
    ap.add_argument("--soak-connections", type=int, default=50)
    ap.add_argument("--soak-rps", type=float, default=None,
                    help="pace the soak: the connections together offer this many requests/s (think time "
                         "as in --paced-rps); default: closed loop, every connection sends as fast as it can")
    ap.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "service")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    env = {**os.environ, "TRIAGE_VAR_DIR": str(tmp), "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom")}
    (tmp / "prom").mkdir()
    if args.database_url:
        env["TRIAGE_DATABASE_URL"] = args.database_url
        subprocess.run([sys.executable, "-m", "triage.cli", "db", "upgrade"], env=env, cwd=REPO, check=True)
    texts = [r["text"] for r in read_records(REPO / "data" / "samples" / "test.jsonl")]
    bodies = tmp / "bodies.jsonl"
    bodies.write_text("".join(json.dumps({"text": t, "channel": "web"}, ensure_ascii=False) + "\n" for t in texts))
    lua = tmp / "classify.lua"
    lua.write_text(LUA)

    port = free_port()
    print(f"starting {args.workers} worker(s)...", flush=True)
    proc, ready_s = start_service(args.workers, env, port)
    try:
        key = subprocess.run([sys.executable, "-m", "triage.cli", "keys", "create", "--role", "intake",
                              "--name", "bench"], env=env, cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.strip()
        wenv = {**env, "TRIAGE_BODIES": str(bodies), "TRIAGE_KEY": key}
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as c:
            for t in texts[:50]:  # warm every worker
                c.post("/v1/classify", json={"text": t}).raise_for_status()
            workers = children(proc.pid) or [proc.pid]
            rss_before = {p: rss_mb(p) for p in workers}
            if args.soak:
                return soak(args, port, wenv, lua, workers, rss_before, ready_s)
            results = []
            for conc in args.concurrency:
                print(f"wrk: {conc} connections for {args.duration} s...", flush=True)
                results.append(run_wrk(port, conc, args.duration, wenv, lua))
                print("  ", results[-1], flush=True)
            paced = []
            for rate in args.paced_rps or []:
                print(f"wrk: {args.paced_connections} paced connections offering {rate:g} requests/s for "
                      f"{args.duration} s...", flush=True)
                paced.append(run_wrk(port, args.paced_connections, args.duration, wenv, lua, offered_rps=rate))
                print("  ", paced[-1], flush=True)
            batch_s = []
            items = [{"text": texts[i % len(texts)]} for i in range(1000)]
            for b in range(args.batches):
                t0 = time.perf_counter()
                r = c.post("/v1/classify/batch", json={"items": items})
                r.raise_for_status()
                batch_s.append(time.perf_counter() - t0)
                print(f"batch {b + 1}/{args.batches}: {batch_s[-1]:.3f} s", flush=True)
            rss_after = {p: rss_mb(p) for p in workers}
            pss_total = sum(pss_mb(p) for p in {proc.pid, *workers})
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": sys.platform},
        "workers": args.workers, "database": args.database_url and args.database_url.split("://")[0] or "sqlite",
        "start_to_ready_s": round(ready_s, 2),
        "wrk": results, "wrk_paced": paced,
        "batch_1000_s_median": round(statistics.median(batch_s), 3), "batch_1000_s_all": [round(x, 3) for x in batch_s],
        "rss_mb_per_worker_after": {str(p): round(v, 1) for p, v in rss_after.items()},
        "rss_mb_per_worker_before": {str(p): round(v, 1) for p, v in rss_before.items()},
        "pss_mb_service_total_after": round(pss_total, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "service_load.json").write_text(json.dumps(report, indent=2))
    md = [f"Workers: {args.workers}; database: {report['database']}; start to ready: {report['start_to_ready_s']} s; "
          f"1,000-item batch: median {report['batch_1000_s_median']} s; RSS per worker after the run: "
          f"{', '.join(f'{v:.0f} MB' for v in rss_after.values())}; whole service (supervisor + workers, PSS): "
          f"{pss_total:.0f} MB", "",
          "| connections | requests/s | p50 ms | p90 ms | p99 ms | errors |", "|---:|---:|---:|---:|---:|---:|"]
    md += [f"| {r['concurrency']} | {r['rps']} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
           for r in results]
    if paced:
        md += ["", f"Paced: {args.paced_connections} connections, each waiting an exponential think time between "
               "requests (wrk's `delay()`; latency is measured from sending).", "",
               "| offered requests/s | achieved requests/s | p50 ms | p90 ms | p99 ms | errors |",
               "|---:|---:|---:|---:|---:|---:|"]
        md += [f"| {r['offered_rps']:g} | {r['rps']} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} | "
               f"{r['errors']} |" for r in paced]
    (args.out / "service_load.md").write_text("\n".join(md) + "\n")
    plot(results, args.out / "service_load.png", args.workers)
    print("\n".join(md))
    print(f"written to {args.out}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def soak(args, port, wenv, lua, workers, rss_before, ready_s) -> int:
    import threading

    samples: list[tuple[float, dict]] = []
    stop = threading.Event()

    def sample():
        t0 = time.perf_counter()
        while not stop.is_set():
            samples.append((round(time.perf_counter() - t0, 1), {str(p): round(rss_mb(p), 1) for p in workers}))
            stop.wait(10)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    paced = f", paced at {args.soak_rps:g} requests/s offered" if args.soak_rps else ""
    print(f"soak: {args.soak_connections} connections for {args.soak} s{paced}...", flush=True)
    res = run_wrk(port, args.soak_connections, args.soak, wenv, lua, offered_rps=args.soak_rps)
    stop.set()
    th.join()
    rss_after = {str(p): round(rss_mb(p), 1) for p in workers}
    # Growth from the first sample under load (after warm-up) to the end, per worker.
    first = samples[1][1] if len(samples) > 1 else {str(p): v for p, v in rss_before.items()}
    growth = {p: round((rss_after[p] - first[p]) / first[p] * 100, 1) for p in rss_after if first.get(p)}
    report = {"soak_seconds": args.soak, "connections": args.soak_connections, "offered_rps": args.soak_rps,
              "wrk": res,
              "rss_mb_samples": samples, "rss_mb_after": rss_after, "rss_growth_percent": growth,
              "start_to_ready_s": round(ready_s, 2), "workers": args.workers}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "soak_paced" if args.soak_rps else "soak"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    md = (f"Soak: {args.soak} s at {args.soak_connections} connections{paced}, {args.workers} workers: "
          f"{res['requests']} requests, {res['rps']} requests/s, p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms, "
          f"errors {res['errors']} (non-2xx {res['non_2xx']}); resident memory growth per worker "
          f"{', '.join(f'{v:+.1f}%' for v in growth.values())} (from the first sample under load to the end).")
    (args.out / f"{stem}.md").write_text(md + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for p in rss_after:
        ax.plot([t for t, _ in samples], [d.get(p, 0) for _, d in samples], marker=".", label=f"worker {p}")
    ax.set(xlabel="seconds", ylabel="resident MB", title="resident memory under load")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / f"{stem}.png", dpi=110)
    print(md)
    return 0


def plot(results: list[dict], path: Path, workers: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conc = [r["concurrency"] for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for k in ("p50_ms", "p90_ms", "p99_ms"):
        a.plot(conc, [r[k] for r in results], marker="o", label=k.replace("_ms", ""))
    a.set(xscale="log", yscale="log", xlabel="concurrent connections", ylabel="latency (ms)",
          title="POST /v1/classify latency")
    a.axhline(25, color="grey", ls="--", lw=0.8, label="25 ms floor")
    a.legend()
    b.plot(conc, [r["rps"] for r in results], marker="o")
    b.axhline(500, color="grey", ls="--", lw=0.8, label="500 rps floor")
    b.set(xscale="log", xlabel="concurrent connections", ylabel="requests/s", title=f"throughput, {workers} workers")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
