#!/usr/bin/env bash
# Canonical dump compatibility across versions: the same generated input is consumed by an older
# recstream binary and by this one; their `state dump`s must be identical, and so must this
# binary's dump of the older binary's state directory (migrated in place on open).
#
#   scripts/dump-compat.sh OLD_BINARY [NEW_BINARY] [WORK_DIR]
#
# e.g. build an earlier commit in a worktree (`git worktree add /tmp/old <commit> && cd /tmp/old
# && swift build --product recstream`), then `scripts/dump-compat.sh /tmp/old/.build/debug/recstream`.
# Needs curl and python3. Exits non-zero when the dumps differ.
set -u
OLD=${1:?usage: scripts/dump-compat.sh OLD_BINARY [NEW_BINARY] [WORK_DIR]}
NEW=${2:-.build/release/recstream}
D=${3:-$(mktemp -d)}
mkdir -p $D
rm -rf $D/state-* $D/*.txt $D/*.log
[ -f $D/events.jsonl ] || $NEW generate --events 200000 --users 20000 --items 5000 --seed 7 --output $D/events.jsonl 2>/dev/null
N=$(wc -l < $D/events.jsonl)
one() {
  local B=$1 name=$2
  $B broker > $D/broker-$name.log 2>&1 &
  local bp=$!
  for i in $(seq 100); do grep -q "bootstrap:" $D/broker-$name.log && break; sleep 0.2; done
  local bs=$(grep -o "bootstrap: [^ ]*" $D/broker-$name.log | head -1 | cut -d' ' -f2)
  $B produce --brokers $bs --file $D/events.jsonl > /dev/null 2>&1
  $B run --brokers $bs --state-dir $D/state-$name --http-address 127.0.0.1:0 --log-level warning > $D/run-$name.log 2>&1 &
  local rp=$!
  for i in $(seq 100); do grep -q "api:" $D/run-$name.log && break; sleep 0.2; done
  local api=$(grep -o "api: [^ ]*" $D/run-$name.log | head -1 | cut -d' ' -f2)
  for i in $(seq 600); do
    c=$(curl -s $api/v1/status | python3 -c "
import json,sys
s=json.load(sys.stdin); p=s['partitions']
done=sum(x['applied']+x['duplicates']+x['late']+sum(x['rejected'].values()) for x in p)
ok=all(x.get('committed_offset')==x.get('applied_offset') for x in p)
print(done if ok else -1)" 2>/dev/null)
    [ "$c" = "$N" ] && break; sleep 1
  done
  echo "$name consumed $c of $N"
  kill -TERM $rp; wait $rp
  $B state dump --state-dir $D/state-$name > $D/dump-$name.txt 2>/dev/null
  kill -9 $bp 2>/dev/null; wait $bp 2>/dev/null
}
one $OLD old
one $NEW new
cp -r $D/state-old $D/state-migrated
$NEW state dump --state-dir $D/state-migrated > $D/dump-migrated.txt 2>$D/migrate.err
wc -l $D/dump-*.txt
cmp $D/dump-old.txt $D/dump-new.txt && echo "old == new" || exit 1
cmp $D/dump-old.txt $D/dump-migrated.txt && echo "old == migrated" || exit 1
