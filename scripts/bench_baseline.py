#!/usr/bin/env python3
"""Baseline Mimecast collector for the performance benchmark.

Collects one stream the way published Python Mimecast collectors do it (requests + json):
parse each response with response.json(), wrap every record in a small envelope, json.dumps
it as one line. Only `requests` is needed. Prints {"records", "requests", "seconds"} at the end.

  python3 scripts/bench_baseline.py --base-url http://127.0.0.1:8025 \
      --client-id demo-client-id --client-secret demo-client-secret \
      --stream ttp_url --out /tmp/ttp.ndjson
"""
import argparse
import datetime as dt
import gzip
import json
import sys
import time

import requests

TTP_URL_PATH = "/api/ttp/url/get-logs"
SIEM_CG_PATH = "/siem/v1/batch/events/cg"
# Event types of API 2.0 SIEM batch (docs/mimecast-api.md#siem-batch-cloud-gateway), as the
# simulator serves them.
SIEM_CG_TYPES = [
    "receipt", "process", "delivery", "av", "spam", "internal email protect",
    "impersonation protect", "url protect", "attachment protect", "journal",
]


class Collector:
    def __init__(self, args):
        self.args = args
        self.base = args.base_url.rstrip("/")
        self.session = requests.Session()
        self.requests = 0
        self.records = 0

    def token(self):
        r = self.call("POST", self.base + "/oauth/token", data={
            "grant_type": "client_credentials",
            "client_id": self.args.client_id,
            "client_secret": self.args.client_secret,
        })
        self.session.headers["Authorization"] = "Bearer " + r.json()["access_token"]

    def call(self, method, url, presigned=False, **kw):
        """One request; sleeps on 429 per X-RateLimit-Reset (ms), refreshes an expired token."""
        for _ in range(20):
            if presigned:  # pre-signed file URLs take no Authorization header
                r = requests.request(method, url, timeout=120, **kw)
            else:
                r = self.session.request(method, url, timeout=120, **kw)
            self.requests += 1
            if r.status_code == 429:
                time.sleep(int(r.headers.get("X-RateLimit-Reset", "1000")) / 1000.0)
                continue
            if r.status_code == 401 and not presigned and not url.endswith("/oauth/token"):
                self.token()
                continue
            r.raise_for_status()
            return r
        raise RuntimeError(f"giving up on {method} {url}")

    def write(self, out, stream, time_field, rec):
        out.write(json.dumps({
            "tenant": self.args.tenant,
            "stream": stream,
            "time": time_field,
            "collected_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "raw": rec,
        }) + "\n")
        self.records += 1

    def ttp_url(self, out, start, end):
        fmt = "%Y-%m-%dT%H:%M:%S+0000"
        item = {"from": start.strftime(fmt), "to": end.strftime(fmt),
                "oldestFirst": True, "route": "all", "scanResult": "all"}
        token = None
        while True:
            pagination = {"pageSize": self.args.page_size}
            if token:
                pagination["pageToken"] = token
            body = {"meta": {"pagination": pagination}, "data": [item]}
            resp = self.call("POST", self.base + TTP_URL_PATH, json=body).json()
            if resp.get("fail"):
                raise RuntimeError(f"API failure: {resp['fail']}")
            for rec in (resp.get("data") or [{}])[0].get("clickLogs", []):
                self.write(out, "ttp_url", rec.get("date"), rec)
            token = resp.get("meta", {}).get("pagination", {}).get("next")
            if not token:
                return

    def siem_cg(self, out, start, end):
        for event_type in self.args.types.split(","):
            params = {"type": event_type, "pageSize": self.args.page_size,
                      "dateRangeStartsAt": start.strftime("%Y-%m-%d"),
                      "dateRangeEndsAt": end.strftime("%Y-%m-%d")}
            while True:
                page = self.call("GET", self.base + SIEM_CG_PATH, params=params).json()
                files = page.get("value") or []
                for f in files:
                    raw = gzip.decompress(self.call("GET", f["url"], presigned=True).content)
                    for line in raw.splitlines():
                        if line.strip():
                            rec = json.loads(line)
                            self.write(out, "siem_cg", rec.get("timestamp"), rec)
                nxt = page.get("@nextPage")
                if page.get("isCaughtUp") or not files or not nxt:
                    break
                params = {"nextPage": nxt, "pageSize": self.args.page_size}


def parse_time(s):
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--stream", choices=["ttp_url", "siem_cg"], required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--page-size", type=int, default=500)
    p.add_argument("--types", default=",".join(SIEM_CG_TYPES),
                   help="siem_cg event types, comma-separated (default: all)")
    p.add_argument("--tenant", default="demo", help="tenant name written in each record")
    p.add_argument("--from", dest="start", type=parse_time,
                   help="ISO 8601 start (default: 3 days ago)")
    p.add_argument("--to", dest="end", type=parse_time, help="ISO 8601 end (default: now)")
    args = p.parse_args()
    now = dt.datetime.now(dt.timezone.utc)
    start = args.start or now - dt.timedelta(days=3)
    end = args.end or now

    t0 = time.monotonic()
    c = Collector(args)
    c.token()
    with open(args.out, "w", encoding="utf-8") as out:
        getattr(c, args.stream)(out, start.astimezone(dt.timezone.utc),
                                end.astimezone(dt.timezone.utc))
    print(json.dumps({"records": c.records, "requests": c.requests,
                      "seconds": round(time.monotonic() - t0, 3)}))


if __name__ == "__main__":
    sys.exit(main())
