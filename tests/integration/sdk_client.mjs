// Drives Flagsmith's Node SDK (flagsmith-nodejs) for test_serve_sdk.py.
//
//   node sdk_client.mjs PACKAGE_DIR API_URL KEY remote|local IDENTITIES.jsonl
//
// remote: the SDK asks the API (flagtrail serve) for each identity's flags (POST identities/);
// local:  the SDK fetches the environment document with a server key and evaluates itself.
// Prints one line per identity: {"identifier", "flags": {name: {enabled, value}}}, then a line
// {"environment": {...}} with getEnvironmentFlags().
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const [pkgDir, apiUrl, key, mode, file] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { Flagsmith } = require(path.join(pkgDir, 'build/cjs/index.js'));

const flagsmith = new Flagsmith({
    environmentKey: key,
    apiUrl,
    enableLocalEvaluation: mode === 'local',
    environmentRefreshIntervalSeconds: 3600,
    retries: 0,
});

function dump(flags) {
    const out = {};
    // in remote mode the SDK turns a null value into undefined (`feature_state_value ?? value`)
    for (const f of flags.allFlags()) out[f.featureName] = { enabled: f.enabled, value: f.value ?? null };
    return out;
}

const people = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(JSON.parse);
for (const p of people) {
    const flags = await flagsmith.getIdentityFlags(p.identifier, p.traits);
    process.stdout.write(JSON.stringify({ identifier: p.identifier, flags: dump(flags) }) + '\n');
}
const env = await flagsmith.getEnvironmentFlags();
process.stdout.write(JSON.stringify({ environment: dump(env) }) + '\n');
flagsmith.close?.();
process.exit(0);
