#!/bin/sh
# Writes ids.txt: every product id, collected through /api/v2/products cursors.
# Usage: ids.sh http://127.0.0.1:8381
base=${1:?usage: ids.sh BASE_URL}
cursor=""
: > ids.txt
while :; do
  page=$(curl -sf "$base/api/v2/products?limit=100${cursor:+&cursor=$cursor}") || exit 1
  echo "$page" | jq -r '.items[].id' >> ids.txt
  cursor=$(echo "$page" | jq -r '.next_cursor // empty')
  [ -z "$cursor" ] && break
done
wc -l < ids.txt
