"""Server-to-server example: the platform's health and one day of attribution, standard library
only. For development: it uses the TEST secret key, never the live one, read from the
environment (a secret key is never written into code). Load the folder's .env first:

    set -a; . ../../.env; set +a; python3 unmo_example.py
"""
# Customer: financetrack-pro

import json
import os
import sys
import urllib.error
import urllib.request

DEFAULT_API = 'https://api.unmogrowp.com/v1'
API_URL_NAME = 'UNMO_API_URL'  # overrides DEFAULT_API
KEY_NAME = 'UNMO_SECRET_KEY_TEST'


def get(api: str, key: str, path: str) -> object:
    request = urllib.request.Request(api + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def main() -> int:
    key = os.environ.get(KEY_NAME)
    if not key:
        print(f"{KEY_NAME} is not set: load this customer's .env first "
              "(set -a; . ../../.env; set +a).", file=sys.stderr)
        return 2
    api = (os.environ.get(API_URL_NAME) or DEFAULT_API).rstrip("/")
    for path in ("/health", "/analytics/attribution?start_date=2026-01-01&end_date=2026-01-01"):
        try:
            print(json.dumps(get(api, key, path), indent=2))
        except urllib.error.HTTPError as exc:
            print(f"GET {api}{path}: HTTP {exc.code} {exc.reason}", file=sys.stderr)
            return 1
        except (urllib.error.URLError, OSError, ValueError) as exc:
            print(f"GET {api}{path}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
