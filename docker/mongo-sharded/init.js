// Sets up the cluster of docker/mongo-sharded/compose.yaml, run by mongosh --nodb in two
// phases (PHASE): `replicas` initiates the config server and shard replica sets and waits for
// their primaries; `cluster` adds the shards to mongos and shards the shop's collections with
// the keys of shard-keys.json (the deployable placements of
// steps/step05-hybrid-dbs/src/sharding.rs). Both phases are idempotent, so `up` again
// changes nothing.

// One member each, to fit a laptop (compose.yaml says why a production cluster has three).
const REPLICA_SETS = [
  { id: "configrs", host: "config:27019", configsvr: true },
  { id: "shard1", host: "shard1:27018" },
  { id: "shard2", host: "shard2:27018" },
];

function check(what, reply) {
  if (reply.ok !== 1) {
    throw new Error(`${what}: ${tojson(reply)}`);
  }
  return reply;
}

function waitFor(what, ready) {
  for (let attempt = 0; attempt < 120; attempt++) {
    try {
      if (ready()) {
        return;
      }
    } catch (e) {
      // Not reachable yet: try again.
    }
    sleep(1000);
  }
  throw new Error(`gave up waiting for ${what}`);
}

function initiate(set) {
  const admin = new Mongo(`mongodb://${set.host}/?directConnection=true`).getDB("admin");
  const status = admin.runCommand({ replSetGetStatus: 1 });
  if (status.ok !== 1) {
    // NotYetInitialized (94) on the first start; anything else is a real problem.
    if (status.code !== 94) {
      throw new Error(`${set.id}: ${tojson(status)}`);
    }
    const config = { _id: set.id, members: [{ _id: 0, host: set.host }] };
    if (set.configsvr) {
      config.configsvr = true;
    }
    check(`initiating ${set.id}`, admin.runCommand({ replSetInitiate: config }));
    print(`initiated the replica set ${set.id}`);
  }
  waitFor(`the primary of ${set.id}`, () => admin.runCommand({ hello: 1 }).isWritablePrimary);
}

// The same fields in the same order and kinds (config.collections may hold 1 as another
// number type than the JSON's).
function sameKey(a, b) {
  const fields = Object.keys(a);
  return (
    JSON.stringify(fields) === JSON.stringify(Object.keys(b)) &&
    fields.every((field) => String(a[field]) === String(b[field]))
  );
}

function cluster() {
  const mongos = new Mongo("mongodb://mongos:27017");
  const admin = mongos.getDB("admin");
  const listed = check("listing the shards", admin.runCommand({ listShards: 1 })).shards.map(
    (shard) => shard._id,
  );
  for (const set of REPLICA_SETS.filter((s) => !s.configsvr)) {
    if (!listed.includes(set.id)) {
      check(`adding ${set.id}`, admin.runCommand({ addShard: `${set.id}/${set.host}`, name: set.id }));
      print(`added the shard ${set.id}`);
    }
  }
  const database = process.env.SHOP_DATABASE || "shop";
  check(`enabling sharding on ${database}`, admin.runCommand({ enableSharding: database }));
  const { collections } = JSON.parse(require("fs").readFileSync("/init/shard-keys.json", "utf8"));
  const sharded = mongos.getDB("config").getCollection("collections");
  for (const { collection, key: fields, unique } of collections) {
    // [field, 1 or "hashed"] pairs, in the key's order.
    const key = Object.fromEntries(fields);
    const ns = `${database}.${collection}`;
    const existing = sharded.findOne({ _id: ns });
    if (existing) {
      if (!sameKey(existing.key, key)) {
        throw new Error(`${ns} is sharded by ${tojson(existing.key)}, not ${tojson(key)}`);
      }
      print(`${ns}: sharded by ${tojson(key)} already`);
      continue;
    }
    // The key's index first: a collection that already holds documents (the shop ran before
    // the cluster was sharded) needs it. The shop creates the same unique indexes itself at
    // startup, which is why `unique` must match them.
    mongos.getDB(database).getCollection(collection).createIndex(key, unique ? { unique } : {});
    check(`sharding ${ns}`, admin.runCommand({ shardCollection: ns, key, unique }));
    print(`${ns}: sharded by ${tojson(key)}${unique ? ", unique" : ""}`);
  }
}

try {
  const phase = process.env.PHASE;
  if (phase === "replicas") {
    REPLICA_SETS.forEach(initiate);
  } else if (phase === "cluster") {
    cluster();
  } else {
    throw new Error(`PHASE must be replicas or cluster, not ${phase}`);
  }
} catch (error) {
  print(`init.js: ${error.message}`);
  quit(1);
}
