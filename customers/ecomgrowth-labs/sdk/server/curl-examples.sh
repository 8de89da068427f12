#!/bin/sh
# Server-to-server examples for ecomgrowth-labs: a health check and an attribution
# query with curl. For development: they use the TEST secret key (UNMO_SECRET_KEY_TEST),
# never the live one. Load the folder's .env first, then run:
#   set -a; . ../../.env; set +a; ./curl-examples.sh
# UNMO_API_URL in the environment overrides the API below.
set -eu

DEFAULT_API=https://api.unmogrowp.com/v1
API="${UNMO_API_URL:-$DEFAULT_API}"
if [ -z "${UNMO_SECRET_KEY_TEST:-}" ]; then
    echo "UNMO_SECRET_KEY_TEST is not set: load this customer's .env first (set -a; . ../../.env; set +a)." >&2
    exit 2
fi
KEY="$UNMO_SECRET_KEY_TEST"

# Is the platform up?
curl -fsS -H "Authorization: Bearer $KEY" "$API/health"
echo

# Attribution for one day
curl -fsS -H "Authorization: Bearer $KEY" \
    "$API/analytics/attribution?start_date=2026-01-01&end_date=2026-01-01"
echo
