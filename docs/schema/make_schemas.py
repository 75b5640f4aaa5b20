#!/usr/bin/env python3
"""Write the published JSON Schemas (draft 2020-12) of every paramaudit JSON document.

The schemas are the contract: edit this file, run it (`python3 docs/schema/make_schemas.py`),
review the diff of docs/schema/*.schema.json and commit both. The test suite validates
every JSON output of the tool against the committed schemas.
"""
import json
import os

BASE = "https://paramaudit.dev/schema/"
VERSION = 3
HERE = os.path.dirname(os.path.abspath(__file__))


def obj(props, required=None, extra=False):
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": extra,
    }


def arr(s):
    return {"type": "array", "items": s}


def nullable(s):
    return {"anyOf": [s, {"type": "null"}]}


count = {"type": "integer", "minimum": 0}
signed = {"type": "integer"}
string = {"type": "string"}
boolean = {"type": "boolean"}
version = {"const": VERSION}
BUCKETS = ["embedding", "attention", "ffn", "router", "routed_experts", "shared_experts",
           "norm", "pooler", "head", "quantization", "buffer", "other"]
STEPS = ["biases", "norms", "position_tables", "shared_layers", "pooler", "heads",
         "extra_layers", "tied_not_stored", "not_stored", "buffers"]
bucket = {"enum": BUCKETS}
file_format = {"enum": ["safetensors", "gguf", "pytorch"]}
role = {"enum": ["weight", "bias", "buffer", "overhead"]}
line = obj({"part": string, "formula": string, "arithmetic": string, "value": signed})
addition = obj({"step": {"enum": STEPS}, "of": nullable(string), "part": string,
                "formula": string, "arithmetic": string, "value": signed})
derivation_props = {"steps": arr(line), "weights_only": count, "additions": arr(addition),
                    "models": arr(line), "active": nullable(line)}
dims = {"type": "object",
        "additionalProperties": {"anyOf": [count, boolean, arr(count)]}}
dims_source = {"oneOf": [
    obj({"kind": {"const": "config"}, "path": string, "defaulted": arr(string)}),
    obj({"kind": {"const": "inferred"}, "defaulted": arr(string)})]}
bucket_row = obj({"parameters": count, "weights": count, "biases": count, "buffers": count,
                  "overhead": count,
                  "tensors": count, "bytes": count, "expected": nullable(count),
                  "difference": nullable(signed)})
finding = obj({"kind": {"enum": ["missing", "unexpected", "shape_mismatch"]}, "tensor": string,
               "bucket": bucket, "parameters": signed, "detail": string})


def schema(name, title, description, body):
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": BASE + name + ".schema.json", "title": title,
            "description": description, **body}


report = schema("report", "paramaudit inspect report",
                f"What `paramaudit inspect --format json` prints for one model (schema_version {VERSION}).",
                {**obj({
                    "schema_version": version,
                    "source": obj({"spec": string, "layout": {"enum": ["single", "sharded"]},
                                   "files": arr(obj({"path": string, "format": file_format, "bytes": count,
                                                     "header_bytes": count, "tensors": count})),
                                   "index": nullable(string), "config": nullable(string),
                                   "header_only": boolean}),
                    "family": nullable(obj({"name": string, "title": string,
                                            "selected_by": {"enum": ["config", "flag", "tensors"]},
                                            "norm": string, "recognised": count})),
                    "totals": obj({k: count for k in ["parameters", "buffers", "overhead", "stored_elements",
                                                      "tensors", "bytes", "file_bytes"]}),
                    "buckets": obj({b: {"$ref": "#/$defs/bucket_row"} for b in BUCKETS}),
                    "dtypes": arr(obj({"dtype": string, "tensors": count, "elements": count,
                                       "bytes": count})),
                    "memory": obj({**{k: count for k in ["stored_bytes", "overhead_bytes", "fp32_bytes",
                                                         "bf16_bytes", "int8_bytes", "int4_bytes"]},
                                   "bits_per_weight": nullable({"type": "number", "minimum": 0})}),
                    "heads": arr(obj({"head": string, "tensors": count, "parameters": count,
                                      "expected": nullable(count)})),
                    "formula": nullable(obj({"family": string, "dims": dims, "dims_line": string,
                                             "dims_source": dims_source, "weights_only": count,
                                             "expected_total": count, "num_parameters": count,
                                             "active": obj({"parameters": count, "definition": string}),
                                             "parts": arr(string),
                                             "derivation": obj(derivation_props)})),
                    "differences": nullable(obj({**{s: signed for s in STEPS},
                                                 "unexplained": signed})),
                    "ladder": arr(obj({"key": string, "step": string, "parameters": signed,
                                       "counted": boolean, "total": signed})),
                    "findings": arr({"$ref": "#/$defs/finding"}),
                    "notes": arr(string),
                    "tensors": arr(obj({"name": string, "file": string, "bucket": bucket,
                                        "role": role, "dtype": string, "shape": arr(count),
                                        "elements": count, "stored_elements": count,
                                        "stored_as": string, "bytes": count},
                                       required=["name", "file", "bucket", "role", "dtype",
                                                 "shape", "elements", "bytes"])),
                }), "$defs": {"bucket_row": bucket_row, "finding": finding}})

failure = schema("failure", "paramaudit inspect failure",
                 "One model that could not be inspected, in a several-model `inspect` (an item of the JSON array, or a JSON Lines line).",
                 obj({"schema_version": version, "spec": string, "error": string,
                      "exit_code": {"type": "integer", "minimum": 1, "maximum": 2}}))

batch = schema("batch", "paramaudit inspect, several models",
               "`paramaudit inspect A B C --format json`: one item per model, in the order given. With --format jsonl each line is one item.",
               {"type": "array", "items": {"$ref": "#/$defs/item"},
                "$defs": {"item": {"oneOf": [{"$ref": "report.schema.json"},
                                             {"$ref": "failure.schema.json"}]}}})

brief = obj({"name": string, "bucket": bucket, "dtype": string, "shape": arr(count),
             "elements": count})
diff_props = {"schema_version": version, "a": string, "b": string,
              "figures": arr(obj({"figure": string, "a": signed, "b": signed, "change": signed})),
              "only_in_a": arr(brief), "only_in_b": arr(brief),
              "changed": arr(obj({"name": string, "a": brief, "b": brief, "change": signed}))}
diff = schema("diff", "paramaudit diff", "`paramaudit diff A B --format json`.", obj(diff_props))

figure = {"anyOf": [signed, string]}
drift = obj({"figure": string, "expected": figure, "found": figure, "change": nullable(signed)})
drift["description"] = ("A figure that moved. Counts (totals.*, buckets.*, differences.*) are "
                        "integers; a count the model has no value for (no formula) says so in "
                        "text; dtype lists and hashes are text.")
drift["allOf"] = [{
    "if": {"properties": {"figure": {"pattern": "^(totals|buckets|differences)\\."}}},
    "then": {"properties": {"expected": {"type": "integer"},
                            "found": {"anyOf": [{"type": "integer"}, {"const": "no formula"}]}}},
    "else": {"properties": {"expected": {"type": "string"}, "found": {"type": "string"},
                            "change": {"type": "null"}}}}]
check = schema("check", "paramaudit check",
               "`paramaudit check MODEL --expect FILE --format json`.",
               obj({"passed": boolean, "schema_version": version, "model": string,
                    "expect": string, "held": arr(string), "drift": arr(drift),
                    "tensors": nullable(obj(diff_props)),
                    "findings": arr({"$ref": "report.schema.json#/$defs/finding"})}))

num = {"type": ["number", "null"]}
vbucket = obj({k: count for k in ["tensors", "elements", "nan", "inf", "zeros", "subnormals"]})
verify = schema("verify", "paramaudit verify", "`paramaudit verify MODEL --format json`.",
                obj({"schema_version": version, "spec": string, "passed": boolean,
                     "allow_nonfinite": boolean, "bytes": count,
                     "files": arr(obj({"path": string, "format": file_format, "bytes": count,
                                       "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                       "expected": nullable(string),
                                       "expected_from": nullable({"enum": ["hub_cache", "flag", "expectations"]}),
                                       "matches": nullable(boolean)})),
                     "buckets": {"type": "object", "propertyNames": bucket,
                                 "additionalProperties": vbucket},
                     "flags": arr(obj({"tensor": string,
                                       "problem": {"enum": ["non_finite", "all_nan", "all_zero",
                                                            "gamma_far_from_one",
                                                            "constant_embedding"]},
                                       "detail": string})),
                     "tensors": arr(obj({"name": string, "bucket": bucket, "dtype": string,
                                         "elements": count, "scanned": boolean, "nan": count,
                                         "pos_inf": count, "neg_inf": count, "zeros": count,
                                         "subnormals": count, "min": num, "max": num,
                                         "mean": num, "std": num}))}))

formula = schema("formula", "paramaudit formula", "`paramaudit formula CONFIG --format json`.",
                 obj({"schema_version": version, "family": string, "title": string, "dims": dims,
                      "dims_line": string, "dims_source": dims_source, **derivation_props}))

families = schema("families", "paramaudit families",
                  "`paramaudit families --format json`: every registered family.",
                  arr(obj({"schema_version": version, "name": string, "title": string,
                           "model_types": arr(string), "parts": arr(string), "covers": string,
                           "norm": string, "tensors": count})))

for name, s in [("report", report), ("failure", failure), ("batch", batch), ("diff", diff),
                ("check", check), ("verify", verify), ("formula", formula),
                ("families", families)]:
    with open(os.path.join(HERE, name + ".schema.json"), "w") as f:
        json.dump(s, f, indent=2)
        f.write("\n")
