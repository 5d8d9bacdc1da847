"""A peer for bench/serve: sending webhooks the way Flagsmith does, one requests.post per
webhook (the payload serialised with json.dumps(sort_keys=True), signed with HMAC-SHA256,
a new connection each, timeout 10 s, no redirects), from THREADS threads.

    python3 python_sender.py URL SECRET_FILE BODY_FILE COUNT THREADS

Prints the seconds the COUNT webhooks took and how many got a 2xx.
"""
import hashlib
import hmac
import json
import sys
import threading
import time

import requests

url, secret_file, body_file = sys.argv[1:4]
count, threads = int(sys.argv[4]), int(sys.argv[5])
SECRET = open(secret_file, "rb").read().rstrip(b"\r\n")
DATA = json.loads(open(body_file, "rb").read())
ok = 0
lock = threading.Lock()


def send(n):
    global ok
    for _ in range(n):
        body = json.dumps(DATA, sort_keys=True).encode()
        signature = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        r = requests.post(url, data=body, timeout=10, allow_redirects=False,
                          headers={"content-type": "application/json",
                                   "X-Flagsmith-Signature": signature})
        if 200 <= r.status_code < 300:
            with lock:
                ok += 1


start = time.perf_counter()
workers = [threading.Thread(target=send, args=(count // threads + (i < count % threads),))
           for i in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(f"{time.perf_counter() - start:.6f} {ok}")
