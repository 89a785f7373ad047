"""Independent check of trestle-events' Avro encoding with fastavro.

Run by the Rust test `fastavro::fastavro_agrees_on_canonical_form_fingerprints_and_bytes`;
not meant to be run by hand, but it can be:

    python fastavro_check.py <work_dir>/manifest.json <work_dir>

The manifest (written by the Rust test) lists every schema file with the canonical form and
fingerprint trestle-events computed, and sample records encoded by trestle-events with the
JSON they stand for. This script, using only fastavro and the schema files:

1. computes each schema's Parsing Canonical Form and CRC-64-AVRO fingerprint and compares;
2. checks each sample's single-object header (C3 01 + little-endian fingerprint), decodes the
   body with the writer schema and compares it with the expected JSON, and reads it with every
   older version of the schema as reader (an old consumer in another language);
3. writes its own single-object bytes for each sample with every version of the schema, into
   <work_dir>/theirs/, listed in <work_dir>/theirs.json, for the Rust test to decode.

Exits non-zero with one line per problem.
"""

import datetime
import io
import json
import os
import sys
import uuid

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

MARKER = b"\xc3\x01"


def fp_u64(canonical):
    # fastavro gives the fingerprint's bytes in little-endian order, as hex.
    return int.from_bytes(bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")), "little")


def same(decoded, expected):
    """Compares a fastavro-decoded value with the JSON serde wrote for the Rust value."""
    if isinstance(decoded, uuid.UUID):
        return isinstance(expected, str) and uuid.UUID(expected) == decoded
    if isinstance(decoded, datetime.datetime):
        if not isinstance(expected, str):
            return False
        parsed = datetime.datetime.fromisoformat(expected.replace("Z", "+00:00"))
        return parsed == decoded
    if isinstance(decoded, bytes):
        # serde writes a Vec<u8> as an array of numbers.
        return isinstance(expected, list) and bytes(expected) == decoded
    if isinstance(decoded, bool) or isinstance(expected, bool):
        return decoded is expected
    if isinstance(decoded, float) or isinstance(expected, float):
        return isinstance(expected, (int, float)) and float(decoded) == float(expected)
    if isinstance(decoded, list):
        return isinstance(expected, list) and len(decoded) == len(expected) and all(
            same(d, e) for d, e in zip(decoded, expected)
        )
    if isinstance(decoded, dict):
        return isinstance(expected, dict) and set(decoded) == set(expected) and all(
            same(decoded[k], expected[k]) for k in decoded
        )
    return decoded == expected


def main(manifest_path, work_dir):
    with open(manifest_path) as f:
        manifest = json.load(f)
    problems = []
    schemas_dir = manifest["schemas_dir"]

    # 1. Canonical form and fingerprint of every schema version.
    versions = {}  # name -> {version: (parsed_schema, fingerprint)}
    for s in manifest["schemas"]:
        with open(os.path.join(schemas_dir, s["path"])) as f:
            raw = json.load(f)
        canonical = to_parsing_canonical_form(raw)
        if canonical != s["canonical_form"]:
            problems.append(f"{s['path']}: canonical form differs\n  ours:     {s['canonical_form']}\n  fastavro: {canonical}")
        fp = fp_u64(canonical)
        if fp != int(s["fingerprint"]):
            problems.append(f"{s['path']}: fingerprint ours {s['fingerprint']} fastavro {fp}")
        versions.setdefault(s["name"], {})[s["version"]] = (parse_schema(raw), fp, s["current"])

    # 2. Our bytes, read by fastavro; 3. fastavro's bytes for us.
    theirs = []
    os.makedirs(os.path.join(work_dir, "theirs"), exist_ok=True)
    for i, sample in enumerate(manifest["samples"]):
        name = sample["name"]
        with open(os.path.join(work_dir, sample["file"]), "rb") as f:
            data = f.read()
        current_version = max(v for v, (_, _, cur) in versions[name].items() if cur)
        writer, writer_fp, _ = versions[name][current_version]
        if data[:2] != MARKER:
            problems.append(f"sample {i} {name}: marker is {data[:2].hex()}, expected c301")
            continue
        if data[2:10] != writer_fp.to_bytes(8, "little"):
            problems.append(f"sample {i} {name}: header fingerprint {data[2:10].hex()} is not the current schema's {writer_fp.to_bytes(8, 'little').hex()}")
            continue
        body = io.BytesIO(data[10:])
        record = fastavro.schemaless_reader(body, writer, None)
        if body.tell() != len(data) - 10:
            problems.append(f"sample {i} {name}: {len(data) - 10 - body.tell()} bytes left after the body")
        expected = sample["expected"]
        if not same(record, expected):
            problems.append(f"sample {i} {name}: decoded differs\n  fastavro: {record!r}\n  expected: {expected!r}")
        for version, (reader, _, _) in versions[name].items():
            if version == current_version:
                continue
            try:
                fastavro.schemaless_reader(io.BytesIO(data[10:]), writer, reader)
            except Exception as e:  # noqa: BLE001 - report every failure
                problems.append(f"sample {i} {name}: v{version} reader cannot read current data: {e}")

        for version, (schema, fp, _) in sorted(versions[name].items()):
            out = io.BytesIO()
            out.write(MARKER)
            out.write(fp.to_bytes(8, "little"))
            try:
                fastavro.schemaless_writer(out, schema, record)
            except Exception as e:  # noqa: BLE001
                problems.append(f"sample {i} {name}: fastavro cannot write it with v{version}: {e}")
                continue
            file = f"theirs/{i:03}_{name}.v{version}.bin"
            with open(os.path.join(work_dir, file), "wb") as f:
                f.write(out.getvalue())
            theirs.append({"sample": i, "name": name, "version": version, "file": file})

    with open(os.path.join(work_dir, "theirs.json"), "w") as f:
        json.dump(theirs, f, indent=1)
    for p in problems:
        print(p)
    print(f"fastavro {fastavro.__version__}: {len(manifest['schemas'])} schemas, "
          f"{len(manifest['samples'])} samples, {len(theirs)} records written, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
