"""Server-to-server example for ecomgrowth-labs: health and attribution, standard library only.

The bearer token is read from the environment (load the customer's .env first); a secret key is
never written into code."""

import json
import os
import urllib.request

API = os.environ.get("UNMO_API_URL", "http://127.0.0.1:8787/v1").rstrip("/")
KEY = os.environ["UNMO_SECRET_KEY_TEST"]


def get(path: str) -> dict:
    request = urllib.request.Request(API + path, headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


if __name__ == "__main__":
    print(json.dumps(get("/health"), indent=2))
    print(json.dumps(get("/analytics/attribution?start_date=2026-01-01&end_date=2026-01-01"),
                     indent=2))
