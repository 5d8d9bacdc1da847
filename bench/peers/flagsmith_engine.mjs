// Flagsmith's own JS engine (npm package flagsmith-nodejs), driven the way its SDK evaluates
// locally: the environment document becomes an EnvironmentModel (buildEnvironmentModel), each
// identity an IdentityModel with TraitModels, getEvaluationContext maps both to an evaluation
// context and getEvaluationResult evaluates it (flagsmith-nodejs sdk/index.js,
// getIdentityFlagsFromDocument). The engine is inside the package, under build/cjs/flagsmith-engine.
//
//   node flagsmith_engine.mjs PACKAGE_DIR eval  DOCUMENT IDENTITIES.jsonl
//       one line per identity (the environment mapped once, see context() below): {"flags": {name: {enabled, value, reason}}, "segments": [names]}
//       (the identity-override segments the SDK synthesizes are left out, as the API does)
//   node flagsmith_engine.mjs PACKAGE_DIR bench DOCUMENT IDENTITIES.jsonl SECONDS
//       {"sdk": evaluations/s through the SDK path, "engine": evaluations/s of
//        getEvaluationResult alone on contexts whose environment part was mapped once}
//   node flagsmith_engine.mjs PACKAGE_DIR load DOCUMENT
//       {"load_ms": best of 3 of JSON.parse + buildEnvironmentModel + mapping the environment
//        to a context, "heap_mb": heap growth of the first load}
//
// PACKAGE_DIR is the installed node_modules/flagsmith-nodejs. Identities are JSON lines
// {"identifier": ..., "traits": {key: value}}.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [pkg, mode, docPath, identitiesPath, seconds] = process.argv.slice(2);
if (!pkg || !mode || !docPath || (!identitiesPath && mode !== 'load')) {
    console.error('usage: flagsmith_engine.mjs PACKAGE_DIR eval|bench DOCUMENT IDENTITIES [SECONDS]');
    process.exit(2);
}
const require = createRequire(import.meta.url);
const lib = (p) => require(path.resolve(pkg, 'build/cjs/flagsmith-engine', p));
const { getEvaluationResult } = lib('index.js');
const { buildEnvironmentModel } = lib('environments/util.js');
const { getEvaluationContext } = lib('evaluation/evaluationContext/mappers.js');
const { IdentityModel } = lib('identities/models.js');
const { TraitModel } = lib('identities/traits/models.js');

if (mode === 'load') {
    const text = readFileSync(docPath, 'utf8');
    let best = Infinity;
    let heap = 0;
    for (let round = 0; round < 3; round++) {
        const before = process.memoryUsage().heapUsed;
        const start = process.hrtime.bigint();
        let doc = JSON.parse(text);
        if (doc.environment && doc.environment.feature_states) doc = doc.environment;
        const env = buildEnvironmentModel(doc);
        const ctx = getEvaluationContext(env, undefined, undefined, true);
        best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
        if (round === 0) heap = (process.memoryUsage().heapUsed - before) / 1e6;
        if (!ctx) process.exit(1);
    }
    process.stdout.write(JSON.stringify({ load_ms: best, heap_mb: heap }) + '\n');
    process.exit(0);
}

let document = JSON.parse(readFileSync(docPath, 'utf8'));
if (document.environment && document.environment.feature_states) document = document.environment;
const environment = buildEnvironmentModel(document);
const identities = readFileSync(identitiesPath, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));

// What the SDK's getIdentityModel builds for getIdentityFlags(identifier, traits).
function identityModel(who) {
    const traits = Object.entries(who.traits || {}).map(([k, v]) => new TraitModel(k, v));
    return new IdentityModel('0', traits, [], environment.apiKey, who.identifier);
}

function evaluate(who) {
    return getEvaluationResult(getEvaluationContext(environment, identityModel(who)));
}

// The environment part of the context, mapped once: getEvaluationContext(environment, identity)
// is that plus the identity's context, which its mapper (mapIdentityModelToIdentityContext, not
// exported) builds as {identifier, traits: {key: value}}. Same contexts, without mapping the
// whole environment again for every identity.
const environmentContext = getEvaluationContext(environment, undefined, undefined, true);
function context(who) {
    const traits = {};
    for (const t of identityModel(who).identityTraits) traits[t.traitKey] = t.traitValue;
    return { ...environmentContext, identity: { identifier: who.identifier, traits } };
}

if (mode === 'eval') {
    const out = [];
    for (const who of identities) {
        const result = getEvaluationResult(context(who));
        const flags = {};
        for (const f of Object.values(result.flags)) {
            flags[f.name] = { enabled: f.enabled, value: f.value ?? null, reason: f.reason };
        }
        const segments = result.segments
            .filter((s) => !(s.metadata && s.metadata.source === 'identity_override'))
            .map((s) => s.name);
        out.push(JSON.stringify({ flags, segments }));
    }
    process.stdout.write(out.join('\n') + '\n');
} else if (mode === 'bench') {
    const budget = Number(seconds || 2) * 1e9;
    const rate = (fn) => {
        let best = 0;
        for (let round = 0; round < 3; round++) {
            let n = 0;
            const start = process.hrtime.bigint();
            let elapsed = 0;
            do {
                for (let i = 0; i < identities.length; i++) fn(identities[i], i);
                n += identities.length;
                elapsed = Number(process.hrtime.bigint() - start);
            } while (elapsed < budget / 6);
            best = Math.max(best, n / (elapsed / 1e9));
        }
        return best;
    };
    // the SDK path: identity model, context mapping and evaluation for every call
    const sdk = rate((who) => evaluate(who));
    // the engine alone: the environment part of each context mapped in advance
    const contexts = identities.map(context);
    const engine = rate((who, i) => getEvaluationResult(contexts[i]));
    process.stdout.write(JSON.stringify({ sdk, engine }) + '\n');
} else {
    console.error(`unknown mode ${mode}`);
    process.exit(2);
}
