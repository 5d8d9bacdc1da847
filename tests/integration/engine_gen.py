"""Generated environment documents and identities for the engine's comparison and benchmarks.

Used by tests/integration/test_engine_npm.py (flagtrail against Flagsmith's JS engine) and by
bench/run's engine case. Everything is seeded, so a failure can be replayed.

    python3 engine_gen.py document OUT.json [--seed N] [--features 200] [--segments 100]
                          [--conditions 5] [--overrides 1000] [--identifiers 3000]
    python3 engine_gen.py identities DOC.json OUT.jsonl [--seed N] [--count 2000]

The conditions use every operator, but only with the trait types and value forms for which
Flagsmith's Python engine (the reference flagtrail follows) and flagsmith-nodejs agree; the
places where the JS engine departs from the Python one are listed in docs/engine.md
("Differences with flagsmith-nodejs") and avoided here on purpose.
"""
import argparse
import json
import random

ENV_NAME = "Generated Environment"
PLANS = ["free", "pro", "team", "enterprise", "trial"]
COUNTRIES = ["gb", "fr", "de", "us", "es", "jp", "br", "in"]
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
DOMAINS = ["example.com", "example.org", "test.dev"]
VERSIONS = ["0.9.0", "1.0.0", "1.0.1", "1.2.0", "1.10.3", "2.0.0", "2.0.0-beta.1",
            "2.0.0-rc.1", "3.1.4"]


def identifier(rng, n):
    return rng.choice(["user-", "acct_", "u"]) + str(n)


def random_traits(rng):
    """A dict of traits, each present with probability 0.8, typed per key."""
    makers = {
        "age": lambda: rng.randint(1, 99),
        "visits": lambda: rng.randint(1, 500),
        "score": lambda: rng.randint(1, 199) / 2,
        "plan": lambda: rng.choice(PLANS),
        "country": lambda: rng.choice(COUNTRIES),
        "name": lambda: rng.choice(WORDS) + rng.choice(["", "-" + rng.choice(WORDS)]),
        "email": lambda: "user%d@%s" % (rng.randint(1, 999), rng.choice(DOMAINS)),
        "app_version": lambda: rng.choice(VERSIONS),
        "beta": lambda: rng.random() < 0.5,
    }
    traits = {}
    for key, make in makers.items():
        if rng.random() < 0.8:
            traits[key] = make()
    if rng.random() < 0.05:
        traits["plan"] = None
    return traits


def condition(rng):
    """One condition over a trait or the context, with a value form both engines read alike."""
    kind = rng.choice(["int", "int", "float", "str", "str", "email", "semver", "bool",
                       "identity", "split", "env", "set"])
    if kind == "int":
        prop = rng.choice(["age", "visits"])
        op = rng.choice(["EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_INCLUSIVE",
                         "LESS_THAN", "LESS_THAN_INCLUSIVE", "IN", "MODULO", "REGEX"])
        if op == "IN":
            value = ",".join(str(rng.randint(1, 99)) for _ in range(rng.randint(1, 6)))
        elif op == "MODULO":
            value = "%d|%d" % (rng.randint(2, 7), rng.randint(0, 1))
        elif op == "REGEX":
            value = rng.choice(["^[1-3]", "^[0-9]$", "^[4-9][0-9]", "^1"])
        else:
            value = str(rng.randint(1, 99))
    elif kind == "float":
        prop = "score"
        op = rng.choice(["EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_INCLUSIVE",
                         "LESS_THAN", "LESS_THAN_INCLUSIVE", "MODULO"])
        value = "2|0.5" if op == "MODULO" else str(rng.randint(1, 99))
    elif kind == "str":
        prop = rng.choice(["plan", "country", "name"])
        op = rng.choice(["EQUAL", "NOT_EQUAL", "CONTAINS", "NOT_CONTAINS", "IN", "REGEX",
                         "GREATER_THAN", "LESS_THAN_INCLUSIVE"])
        pool = {"plan": PLANS, "country": COUNTRIES, "name": WORDS}[prop]
        if op == "IN":
            picks = rng.sample(pool, rng.randint(1, 3))
            value = json.dumps(picks) if rng.random() < 0.5 else ",".join(picks)
        elif op in ("CONTAINS", "NOT_CONTAINS"):
            word = rng.choice(pool)
            start = rng.randint(0, len(word) - 1)
            value = word[start:start + rng.randint(1, 3)]
        elif op == "REGEX":
            value = rng.choice(["^[a-f]", "^(free|pro)$", "^[a-z]+-", "^.{4}$", "^g"])
        else:
            value = rng.choice(pool)
    elif kind == "email":
        prop = "email"
        op = rng.choice(["CONTAINS", "NOT_CONTAINS", "REGEX", "EQUAL"])
        value = {"CONTAINS": "@" + rng.choice(DOMAINS), "NOT_CONTAINS": rng.choice(DOMAINS),
                 "REGEX": rng.choice(["^user[0-9]*5@", "^user1", "^[a-z]+[0-9]+@test"]),
                 "EQUAL": "user%d@example.com" % rng.randint(1, 999)}[op]
    elif kind == "semver":
        prop = "app_version"
        op = rng.choice(["EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_INCLUSIVE",
                         "LESS_THAN", "LESS_THAN_INCLUSIVE"])
        value = rng.choice(VERSIONS) + ":semver"
    elif kind == "bool":
        prop = "beta"
        op = rng.choice(["EQUAL", "NOT_EQUAL"])
        value = rng.choice(["true", "false", "True", "False"])
    elif kind == "identity":
        prop = "$.identity.identifier"
        op = rng.choice(["EQUAL", "IN", "REGEX", "CONTAINS"])
        value = {"EQUAL": identifier(rng, rng.randint(1, 300)),
                 "IN": ",".join(identifier(rng, rng.randint(1, 300)) for _ in range(20)),
                 "REGEX": rng.choice(["^user-1", "^acct_[0-4]", "^u[0-9]{2}$"]),
                 "CONTAINS": rng.choice(["-1", "_2", "7"])}[op]
    elif kind == "split":
        prop = rng.choice(["", "$.identity.key"])
        op = "PERCENTAGE_SPLIT"
        value = str(rng.choice([5, 10, 25, 33.3, 50, 75, 90]))
    elif kind == "env":
        prop = "$.environment.name"
        op = rng.choice(["EQUAL", "NOT_EQUAL"])
        value = rng.choice([ENV_NAME, "Other"])
    else:
        prop = rng.choice(["age", "plan", "email", "beta"])
        op = rng.choice(["IS_SET", "IS_NOT_SET"])
        value = None
    return {"operator": op, "property_": prop, "value": value}


def rule(rng, conditions, depth=0):
    """A rule with the given number of conditions, sometimes split into sub-rules."""
    kind = rng.choice(["ALL", "ALL", "ANY", "NONE"])
    if depth < 2 and conditions > 2 and rng.random() < 0.5:
        first = rng.randint(1, conditions - 1)
        return {"type": kind, "conditions": [],
                "rules": [rule(rng, first, depth + 1), rule(rng, conditions - first, depth + 1)]}
    return {"type": kind, "conditions": [condition(rng) for _ in range(conditions)], "rules": []}


def value(rng):
    return rng.choice([
        lambda: rng.choice(WORDS), lambda: rng.randint(-5, 5000), lambda: rng.random() < 0.5,
        lambda: None, lambda: "%s-%d" % (rng.choice(WORDS), rng.randint(1, 9)),
        lambda: rng.randint(1, 99) / 4])()


class Ids:
    def __init__(self, start):
        self.next = start

    def __call__(self):
        self.next += 1
        return self.next


def feature_state(rng, ids, feature, multivariate, segment_priority=None):
    fs = {
        "feature": {"id": feature["id"], "name": feature["name"],
                    "type": "MULTIVARIATE" if multivariate else "STANDARD"},
        "enabled": rng.random() < 0.6,
        "feature_state_value": value(rng),
        "django_id": ids(),
        "featurestate_uuid": None,
        "multivariate_feature_state_values": [],
    }
    if segment_priority is not None:
        fs["feature_segment"] = {"priority": segment_priority}
    if multivariate:
        left = 100
        for _ in range(rng.randint(1, 3)):
            weight = rng.randint(0, left)
            left -= weight
            fs["multivariate_feature_state_values"].append({
                "id": ids(), "percentage_allocation": weight,
                "multivariate_feature_option": {"value": value(rng)}})
        rng.shuffle(fs["multivariate_feature_state_values"])
    return fs


def document(seed=1, features=200, segments=100, conditions=5, overrides=1000,
             api_key="genEnvKey0000000000001", identifiers=3000):
    rng = random.Random(seed)
    ids = Ids(100000)
    feats = [{"id": 5000 + i, "name": "feature_%04d" % i, "mv": rng.random() < 0.3}
             for i in range(features)]
    project_segments = []
    for s in range(segments):
        overridden = rng.sample(feats, min(len(feats), rng.randint(0, 4)))
        project_segments.append({
            "id": 900 + s,  # increasing ids: JS visits segments by numeric key, Python in order
            "name": "segment_%03d" % s,
            "rules": [rule(rng, conditions)],
            "feature_states": [
                feature_state(rng, ids, f, f["mv"] and rng.random() < 0.5,
                              None if rng.random() < 0.2 else rng.randint(0, 6))
                for f in overridden],
        })
    identity_overrides = []
    for i in range(overrides):
        chosen = rng.sample(feats, min(len(feats), rng.randint(1, 3)))
        identity_overrides.append({
            "identifier": identifier(random.Random(i), rng.randint(1, identifiers)),
            "identity_uuid": "00000000-0000-4000-8000-%012d" % i,
            "environment_api_key": api_key,
            "identity_features": [feature_state(rng, ids, f, False) for f in chosen],
        })
    seen, unique = set(), []
    for o in identity_overrides:  # one entry per identifier, as Flagsmith keeps them
        if o["identifier"] not in seen:
            seen.add(o["identifier"])
            unique.append(o)
    return {
        "id": 4242, "api_key": api_key, "name": ENV_NAME,
        "hide_disabled_flags": None,
        "use_identity_composite_key_for_hashing": True,
        "project": {
            "id": 77, "name": "Generated Project", "hide_disabled_flags": False,
            "organisation": {"id": 1, "name": "Org"},
            "server_key_only_feature_ids": [f["id"] for f in feats[:3]],
            "segments": project_segments,
        },
        "feature_states": [feature_state(rng, ids, f, f["mv"]) for f in feats],
        "identity_overrides": unique,
    }


def identities(seed, count, overridden=()):
    """Identities with random traits; a share of them are identities with overrides."""
    rng = random.Random(seed)
    overridden = list(overridden)
    out = []
    for n in range(count):
        if overridden and rng.random() < 0.1:
            ident = rng.choice(overridden)
        else:
            ident = identifier(rng, rng.randint(1, 3000))
        out.append({"identifier": ident, "traits": random_traits(rng)})
    return out


def v1_identities(seed, count):
    """Identities for the v1 document's segments (age, favourite_colour, two, three)."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        traits = {}
        if rng.random() < 0.9:
            traits["age"] = rng.randint(1, 99)
        if rng.random() < 0.9:
            traits["favourite_colour"] = rng.choice(["green", "blue", "red", "yellow"])
        if rng.random() < 0.2:
            traits["two"] = rng.choice([2, 3])
        if rng.random() < 0.2:
            traits["three"] = rng.choice([3, 4])
        out.append({"identifier": "%08x-%04x" % (rng.getrandbits(32), n), "traits": traits})
    return out


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("document")
    d.add_argument("out")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--features", type=int, default=200)
    d.add_argument("--segments", type=int, default=100)
    d.add_argument("--conditions", type=int, default=5)
    d.add_argument("--overrides", type=int, default=1000)
    d.add_argument("--identifiers", type=int, default=3000,
                   help="identity overrides pick identifiers among this many")
    i = sub.add_parser("identities")
    i.add_argument("document")
    i.add_argument("out")
    i.add_argument("--seed", type=int, default=2)
    i.add_argument("--count", type=int, default=2000)
    i.add_argument("--v1", action="store_true", help="traits for the v1 engine test document")
    args = ap.parse_args()
    if args.cmd == "document":
        doc = document(args.seed, args.features, args.segments, args.conditions, args.overrides,
                       identifiers=args.identifiers)
        with open(args.out, "w") as f:
            json.dump(doc, f)
    else:
        with open(args.document) as f:
            doc = json.load(f)
        doc = doc.get("environment", doc)
        if args.v1:
            people = v1_identities(args.seed, args.count)
        else:
            people = identities(args.seed, args.count,
                                [o["identifier"] for o in doc.get("identity_overrides") or []])
        with open(args.out, "w") as f:
            for p in people:
                f.write(json.dumps(p) + "\n")


if __name__ == "__main__":
    main()
