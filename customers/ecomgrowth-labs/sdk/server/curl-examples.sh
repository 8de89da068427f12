#!/bin/sh
# Server-to-server examples for ecomgrowth-labs.
# The bearer token is read from the environment: set -a; . ../../.env; set +a
set -eu
API="${UNMO_API_URL:-http://127.0.0.1:8787/v1}"
KEY="${UNMO_SECRET_KEY_TEST:?load the customer's .env first}"

# Is the platform up?
curl -fsS -H "Authorization: Bearer $KEY" "$API/health"

# Attribution for one day
curl -fsS -H "Authorization: Bearer $KEY" \
  "$API/analytics/attribution?start_date=2026-01-01&end_date=2026-01-01"
