//! Unit tests of the GGUF reader: every fixture's header against what gguf-py's reader
//! reported when the fixture was written (the `.gguf.json` twins), files written by the
//! test writer (`tests/audit/common/gguf_writer.rs`, laid out as gguf-py's writer does)
//! for every value type and every malformation, prefixes, and mutations.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::reader::{self, Problem};
use super::value::{Value, ValueType};
use super::*;

#[path = "../../../tests/audit/common/gguf_writer.rs"]
mod writer;

use writer::{Gguf, T, V};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gguf")
        .join(name)
}

fn twin(name: &str) -> Json {
    let text = std::fs::read_to_string(fixture(&format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read(bytes: &[u8]) -> std::result::Result<Part, Problem> {
    read_part(bytes, bytes.len() as u64, 0)
}

fn bad(bytes: &[u8]) -> String {
    match read(bytes) {
        Err(Problem::Bad(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const FIXTURES: &[&str] = &[
    "llama-tied.gguf",
    "llama-untied.gguf",
    "qwen2-tied.gguf",
    "qwen2-untied.gguf",
    "qwen3.gguf",
    "gemma2.gguf",
    "phi3.gguf",
    "mixtral.gguf",
    "qwen3moe.gguf",
    "deepseek2.gguf",
    "deepseek2-no-q-lora.gguf",
    "llama-untied-be.gguf",
    "llama-untied-align64.gguf",
    "llama-untied-head-count-kv-array.gguf",
    "llama-tied-v2.gguf",
    "quant-zoo.gguf",
    "split/llama-untied-00001-of-00003.gguf",
    "split/llama-untied-00002-of-00003.gguf",
    "split/llama-untied-00003-of-00003.gguf",
];

/// The stored view equals gguf-py's: version, byte order, counts, alignment, data start,
/// every tensor's name, type, dims (ggml order), elements, bytes and offset.
#[test]
fn every_fixture_header_reads_as_gguf_py_read_it() {
    for name in FIXTURES {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let part = read(&bytes).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let j = twin(name);
        let p = &part.parsed;
        assert_eq!(u64::from(p.header.version), j["version"], "{name}");
        assert_eq!(
            if p.header.big_endian { "big" } else { "little" },
            j["endianness"],
            "{name}"
        );
        assert_eq!(p.header.tensor_count, j["tensor_count"], "{name}");
        assert_eq!(p.header.kv_count, j["kv_count"], "{name}");
        assert_eq!(p.alignment, j["alignment"], "{name}");
        assert_eq!(p.data_start, j["data_offset"], "{name}");
        let listed = j["tensors"].as_array().unwrap();
        assert_eq!(p.tensors.len(), listed.len(), "{name}");
        for ((t, span), w) in p.tensors.iter().zip(&part.extents.spans).zip(listed) {
            assert_eq!(t.name, w["name"], "{name}");
            assert_eq!(u64::from(t.ggml.0), w["ggml_type_id"], "{name} {}", t.name);
            let ne: Vec<u64> = serde_json::from_value(w["shape_ne"].clone()).unwrap();
            assert_eq!(t.ne, ne, "{name} {}", t.name);
            let torch: Vec<u64> = serde_json::from_value(w["shape_torch"].clone()).unwrap();
            assert_eq!(t.shape(), torch, "{name} {}", t.name);
            assert_eq!(t.elements, w["n_elements"], "{name} {}", t.name);
            assert_eq!(t.bytes, w["n_bytes"].as_u64(), "{name} {}", t.name);
            assert_eq!(t.offset, w["offset"], "{name} {}", t.name);
            assert_eq!(span.1 - span.0, w["n_bytes"], "{name} {}", t.name);
        }
        let total: u64 = p.tensors.iter().filter_map(|t| t.bytes).sum();
        assert_eq!(total, j["n_bytes_total"], "{name}");
        assert_eq!(
            part.extents.data_bytes + p.data_start,
            j["end_of_last_tensor"],
            "{name}"
        );
    }
}

/// Every metadata key, in file order, with gguf-py's value type and value (long arrays:
/// their length, item type, first items and last).
#[test]
fn every_fixture_metadata_value_reads_as_gguf_py_read_it() {
    for name in FIXTURES {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let p = read(&bytes).unwrap().parsed;
        let j = twin(name);
        let meta = j["metadata"].as_object().unwrap();
        let keys: Vec<&String> = meta.keys().collect();
        let mut ours: Vec<&String> = p.kv.iter().map(|(k, _)| k).collect();
        ours.sort();
        assert_eq!(ours, keys, "{name}: the same keys");
        for (k, v) in &p.kv {
            let w = &meta[k];
            assert_eq!(v.value_type().name(), w["type"], "{name} {k}");
            check_value(
                v,
                &w["value"],
                w.get("element_type"),
                &format!("{name} {k}"),
            );
        }
    }
}

fn check_value(v: &Value, w: &Json, item_type: Option<&Json>, what: &str) {
    match v {
        Value::Array(a) => {
            assert_eq!(Some(&Json::from(a.item.name())), item_type, "{what}");
            let (len, first, last) = match w {
                Json::Array(items) => (items.len() as u64, items.clone(), items.last()),
                Json::Object(o) => (
                    o["length"].as_u64().unwrap(),
                    o["first"].as_array().unwrap().clone(),
                    o.get("last"),
                ),
                _ => panic!("{what}: {w}"),
            };
            assert_eq!(a.len, len, "{what}");
            if let Some(items) = &a.items {
                for (x, y) in items.iter().zip(&first) {
                    check_value(x, y, None, what);
                }
                if let (Some(x), Some(y)) = (items.last(), last) {
                    check_value(x, y, None, what);
                }
            }
        }
        Value::Float(x, _) => assert_eq!(Some(*x), w.as_f64(), "{what}"),
        Value::Bool(b) => assert_eq!(Some(*b), w.as_bool(), "{what}"),
        Value::Str { text, .. } => assert_eq!(Some(text.as_str()), w.as_str(), "{what}"),
        Value::Unsigned(x, _) => assert_eq!(Some(*x), w.as_u64(), "{what}"),
        Value::Signed(x, _) => assert_eq!(Some(*x), w.as_i64(), "{what}"),
    }
}

#[test]
fn big_endian_file_reads_as_its_little_endian_twin() {
    let le = std::fs::read(fixture("llama-untied.gguf")).unwrap();
    let be = std::fs::read(fixture("llama-untied-be.gguf")).unwrap();
    let (le, be) = (read(&le).unwrap(), read(&be).unwrap());
    assert!(be.parsed.header.big_endian && !le.parsed.header.big_endian);
    assert_eq!(le.parsed.tensors, be.parsed.tensors);
    assert_eq!(le.parsed.kv, be.parsed.kv);
    assert_eq!(le.extents, be.extents);
}

#[test]
fn the_unknown_type_file_is_read_with_the_tensor_size_bounded_by_the_next_offset() {
    let j = twin("llama-tied-unknown-type.gguf");
    assert_eq!(j["patch"]["new_value"], 42);
    let bytes = std::fs::read(fixture("llama-tied-unknown-type.gguf")).unwrap();
    let part = read(&bytes).unwrap();
    let listed = j["expected_view"]["tensors"].as_array().unwrap();
    let i = listed
        .iter()
        .position(|t| t["name"] == j["patch"]["tensor"])
        .unwrap();
    let t = &part.parsed.tensors[i];
    assert_eq!(t.ggml.0, 42);
    assert_eq!(t.bytes, None);
    assert_eq!(t.elements, listed[i]["n_elements"]);
    // The span runs to the next tensor's offset (in offset order).
    let next = listed
        .iter()
        .filter_map(|t| t["offset"].as_u64())
        .filter(|&o| o > t.offset)
        .min()
        .unwrap();
    assert_eq!(part.extents.spans[i], (t.offset, next));
    assert!(
        part.extents.notes[0].contains("ggml type id 42"),
        "{:?}",
        part.extents.notes
    );
}

/// A prefix shorter than the header asks for more (never more than the header), and the
/// header alone reads as the whole file does.
#[test]
fn a_prefix_asks_for_more_until_it_holds_the_header() {
    for name in ["llama-tied.gguf", "deepseek2.gguf", "llama-untied-be.gguf"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let len = bytes.len() as u64;
        let j = twin(name);
        let data_start = j["data_offset"].as_u64().unwrap() as usize;
        let infos_end = read(&bytes).unwrap().parsed.infos_end as usize;
        let mut asked = 0;
        let mut n = 0;
        while n < infos_end {
            match parse_prefix(&bytes[..n], len, 0).unwrap() {
                Prefix::NeedAtLeast(m) => {
                    assert!(m > n as u64 && m <= infos_end as u64, "{name} {n}: {m}");
                    asked += 1;
                    n = m as usize;
                }
                Prefix::Read(..) => panic!("{name}: read from {n} bytes"),
            }
        }
        assert!(asked > 3, "{name}: {asked} requests");
        for cut in [infos_end, data_start, bytes.len()] {
            let Prefix::Read(info, tensors) = parse_prefix(&bytes[..cut], len, 0).unwrap() else {
                panic!("{name}: {cut} bytes should do");
            };
            let (full, full_tensors) = open_mapped(
                &fixture(name),
                crate::format::map_file(&fixture(name)).unwrap(),
                0,
            )
            .unwrap();
            assert!(info.header_only);
            assert_eq!(tensors, full_tensors, "{name}");
            assert_eq!(info.config, full.config, "{name}");
            assert_eq!(info.data_bytes, full.data_bytes);
        }
    }
}

#[test]
fn a_prefix_of_a_malformed_file_is_refused_not_asked_for_more() {
    let mut g = Gguf::tiny_llama();
    g.version = 1;
    let bytes = g.bytes();
    let e = parse_prefix(&bytes[..12], bytes.len() as u64, 0).unwrap_err();
    assert!(e.contains("version 1"), "{e}");
    // A declared file length the layout does not fit is truncation, prefix or not.
    let bytes = Gguf::tiny_llama().bytes();
    let e = parse_prefix(&bytes, bytes.len() as u64 - 40, 0).unwrap_err();
    assert!(e.contains("truncated"), "{e}");
}

#[test]
fn cutting_a_file_anywhere_is_an_error_never_a_panic() {
    let bytes = std::fs::read(fixture("deepseek2.gguf")).unwrap();
    let data_start = twin("deepseek2.gguf")["data_offset"].as_u64().unwrap() as usize;
    let last_end = twin("deepseek2.gguf")["end_of_last_tensor"]
        .as_u64()
        .unwrap() as usize;
    for n in (0..data_start).chain((data_start..bytes.len()).step_by(97)) {
        if n >= last_end {
            continue;
        }
        let m = bad(&bytes[..n]);
        assert!(
            ["truncated", "cannot fit", "exceeds the"]
                .iter()
                .any(|s| m.contains(s)),
            "{n}: {m}"
        );
    }
    // Inside the last tensor's padding: accepted, as llama.cpp maps it.
    assert!(read(&bytes[..last_end]).is_ok());
}

#[test]
fn every_value_type_reads_back() {
    let mut g = Gguf::tiny_llama();
    let values = [
        ("t.u8", V::U8(200), "200"),
        ("t.i8", V::I8(-5), "-5"),
        ("t.u16", V::U16(60000), "60000"),
        ("t.i16", V::I16(-300), "-300"),
        ("t.u32", V::U32(4_000_000_000), "4000000000"),
        ("t.i32", V::I32(-70000), "-70000"),
        ("t.f32", V::F32(0.1), "0.1"),
        ("t.bool", V::Bool(true), "true"),
        ("t.str", V::str("héllo"), "héllo"),
        ("t.u64", V::U64(u64::MAX), "18446744073709551615"),
        ("t.i64", V::I64(i64::MIN), "-9223372036854775808"),
        ("t.f64", V::F64(2.5), "2.5"),
        ("t.arr", V::Arr(4, vec![V::U32(1), V::U32(2)]), "[1, 2]"),
        (
            "t.nested",
            V::Arr(9, vec![V::Arr(8, vec![V::str("a")]), V::Arr(5, vec![])]),
            "array of 2 ARRAY",
        ),
        (
            "t.long",
            V::Arr(8, (0..2000).map(|i| V::Str(i.to_string())).collect()),
            "array of 2000 STRING",
        ),
        (
            "t.longnum",
            V::Arr(6, (0..3000).map(|i| V::F32(i as f32)).collect()),
            "array of 3000 FLOAT32",
        ),
    ];
    for (k, v, _) in &values {
        g.set(k, v.clone());
    }
    for big_endian in [false, true] {
        g.big_endian = big_endian;
        let bytes = g.bytes();
        let part = read(&bytes).unwrap();
        let meta = metadata(&part.parsed);
        for (k, _, shown) in &values {
            assert_eq!(meta[*k], *shown, "{k} big_endian={big_endian}");
        }
        assert_eq!(
            meta["GGUF.endianness"],
            if big_endian { "big" } else { "little" }
        );
        let f32v = part.parsed.get("t.f32").unwrap();
        assert_eq!(f32v.value_type(), ValueType::F32);
        assert_eq!(f32v.as_f64(), Some(0.1));
    }
}

#[test]
fn a_repeated_key_takes_the_later_value_in_the_first_place_with_a_note() {
    let mut g = Gguf::tiny_llama();
    g.kv.push(("llama.block_count".into(), V::U32(7)));
    let part = read(&g.bytes()).unwrap();
    let keys: Vec<&str> = part.parsed.kv.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys[1], "llama.block_count");
    assert_eq!(keys.len(), g.kv.len() - 1);
    assert_eq!(
        part.parsed.get("llama.block_count").unwrap().as_u64(),
        Some(7)
    );
    assert!(part.parsed.notes[0].contains("appears twice"));
}

#[test]
fn versions_and_magic() {
    for (v, ok) in [(2, true), (3, true), (1, false), (4, false), (0, false)] {
        let mut g = Gguf::tiny_llama();
        g.version = v;
        assert_eq!(read(&g.bytes()).is_ok(), ok, "version {v}");
    }
    let mut g = Gguf::tiny_llama();
    g.version = 1;
    assert!(bad(&g.bytes()).contains("GGUF version 1 is not supported"));
    g.version = 4;
    assert!(bad(&g.bytes()).contains("unsupported GGUF version 4"));
    let mut fugg = Gguf::tiny_llama().bytes();
    fugg[..4].copy_from_slice(b"FUGG");
    assert!(bad(&fugg).contains("bad magic `FUGG`"));
}

#[test]
fn counts_and_lengths_beyond_the_file_are_refused_before_allocating() {
    let mut g = Gguf::tiny_llama();
    g.tensor_count = Some(u64::MAX);
    assert!(bad(&g.bytes()).contains("cannot fit"));
    let mut g = Gguf::tiny_llama();
    g.kv_count = Some(1 << 40);
    assert!(bad(&g.bytes()).contains("cannot fit"));
    // A string whose length is the whole address space.
    let mut g = Gguf::tiny_llama();
    g.set("x", V::Raw(8, u64::MAX.to_le_bytes().to_vec()));
    assert!(bad(&g.bytes()).contains("string length 18446744073709551615"));
    // An array of 2^60 UINT64.
    let mut raw = 10u32.to_le_bytes().to_vec();
    raw.extend((1u64 << 60).to_le_bytes());
    let mut g = Gguf::tiny_llama();
    g.set("x", V::Raw(9, raw));
    assert!(bad(&g.bytes()).contains("cannot fit"));
    // An unknown value type, and an array of one.
    let mut g = Gguf::tiny_llama();
    g.set("x", V::Raw(13, vec![]));
    assert!(bad(&g.bytes()).contains("unknown value type 13"));
    let mut g = Gguf::tiny_llama();
    g.set(
        "x",
        V::Raw(9, [99u32.to_le_bytes().to_vec(), vec![0; 8]].concat()),
    );
    assert!(bad(&g.bytes()).contains("array of unknown value type 99"));
}

#[test]
fn nested_arrays_are_bounded_in_depth() {
    let mut deep = V::Arr(4, vec![]);
    for _ in 0..value::MAX_ARRAY_DEPTH - 1 {
        deep = V::Arr(9, vec![deep]);
    }
    let mut g = Gguf::tiny_llama();
    g.set("deep", deep.clone());
    assert!(read(&g.bytes()).is_ok());
    g.set("deep", V::Arr(9, vec![deep]));
    assert!(bad(&g.bytes()).contains("nested more than 8 deep"));
    // A wide bomb: a million empty arrays in 12 MB is read (bounded by the bytes), not kept.
    let mut g = Gguf::tiny_llama();
    g.set(
        "wide",
        V::Arr(9, (0..100_000).map(|_| V::Arr(0, vec![])).collect()),
    );
    let part = read(&g.bytes()).unwrap();
    assert_eq!(metadata(&part.parsed)["wide"], "array of 100000 ARRAY");
}

#[test]
fn alignment_must_be_a_uint32_power_of_two() {
    let mut g = Gguf::tiny_llama();
    g.set("general.alignment", V::U32(64));
    g.alignment = 64;
    let part = read(&g.bytes()).unwrap();
    assert_eq!(part.parsed.alignment, 64);
    assert_eq!(part.parsed.data_start % 64, 0);
    for (v, message) in [
        (V::U32(48), "general.alignment is 48, not a power of two"),
        (V::U32(0), "general.alignment is 0, not a power of two"),
        (
            V::U64(64),
            "general.alignment must be a UINT32, found a UINT64",
        ),
    ] {
        let mut g = Gguf::tiny_llama();
        g.set("general.alignment", v);
        assert!(bad(&g.bytes()).contains(message), "{message}");
    }
}

#[test]
fn the_data_start_is_not_pushed_a_whole_alignment_when_already_aligned() {
    let g = Gguf::tiny_llama();
    let header = g.header();
    let part = read(&g.bytes()).unwrap();
    assert_eq!(part.parsed.infos_end, header.len() as u64);
    assert_eq!(
        part.parsed.data_start,
        header.len().div_ceil(32) as u64 * 32
    );
    // Pad the header to a multiple of 32 with a key whose length fills it.
    let mut g = Gguf::tiny_llama();
    // The key adds 8 (its length) + its bytes + 4 (type) + 1 (a UINT8).
    let fill = (32 - (header.len() + 13) % 32) % 32;
    g.kv.push(("k".repeat(if fill == 0 { 32 } else { fill }), V::U8(0)));
    let aligned = g.header();
    assert_eq!(aligned.len() % 32, 0, "the test header must end aligned");
    let part = read(&g.bytes()).unwrap();
    assert_eq!(part.parsed.data_start, aligned.len() as u64);
}

#[test]
fn tensor_infos_are_checked() {
    type Mutation = Box<dyn Fn(&mut Gguf)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|g| g.tensors[1].ne = vec![1, 1, 1, 1, 8]),
            "has 5 dimensions (ggml allows at most 4)",
        ),
        (
            Box::new(|g| g.tensors[1].ne = vec![1 << 63]),
            "dimensions are signed 64-bit",
        ),
        (
            Box::new(|g| g.tensors[1].ne = vec![1 << 32, 1 << 32]),
            "whose product overflows",
        ),
        (
            Box::new(|g| g.tensors[2] = T::raw("blk.0.attn_q.weight", &[100, 8], 12, 0)),
            "rows of 100 elements are not whole Q4_K blocks of 256",
        ),
        (
            Box::new(|g| g.tensors[2].name = "token_embd.weight".into()),
            "tensor `token_embd.weight` appears twice",
        ),
        (Box::new(|g| g.tensors[2].offset = Some(0)), "overlaps"),
        (
            Box::new(|g| g.tensors[2].offset = Some(16)),
            "offset 16, not a multiple of the alignment 32",
        ),
        (
            Box::new(|g| {
                let last = g.offsets()[10];
                g.tensors[10].offset = Some(last + 32);
                g.trailing = vec![0; 32];
            }),
            "data bytes 2752..2784 belong to no tensor (a gap after `blk.0.ffn_down.weight`, before `output_norm.weight`)",
        ),
        (
            Box::new(|g| g.trailing = vec![0; 40]),
            "trailing bytes after the last tensor",
        ),
        (
            Box::new(|g| g.tensors[3].ne = vec![8, 9]),
            "tensor `blk.0.attn_v.weight` (data bytes 672..) overlaps `blk.0.attn_k.weight` (data bytes 416..704)",
        ),
    ];
    for (mutate, message) in cases {
        let mut g = Gguf::tiny_llama();
        mutate(&mut g);
        let m = bad(&g.bytes());
        assert!(m.contains(message), "{message}: {m}");
    }
    // Trailing bytes within the last tensor's padding are the writer's own.
    let mut g = Gguf::tiny_llama();
    g.tensors.push(T::f32("extra", &[3], 0.0));
    let bytes = g.bytes();
    assert!(read(&bytes).is_ok());
    assert!(read(&bytes[..bytes.len() - 20]).is_ok());
}

#[test]
fn a_zero_dimension_tensor_is_a_scalar() {
    let mut g = Gguf::tiny_llama();
    g.tensors.push(T::f32("scalar", &[], 2.0));
    let part = read(&g.bytes()).unwrap();
    let t = part.parsed.tensors.last().unwrap();
    assert_eq!((t.shape(), t.elements, t.bytes), (vec![], 1, Some(4)));
}

fn logical(g: &Gguf) -> (Vec<Tensor>, Vec<String>, Option<serde_json::Value>) {
    let bytes = g.bytes();
    let part = read(&bytes).unwrap();
    let (infos, tensors) = finish(vec![part], &[bytes.len() as u64]).unwrap();
    let info = infos.into_iter().next().unwrap();
    (tensors, info.notes, info.config)
}

#[test]
fn tiny_llama_becomes_transformers_names_and_config() {
    let (tensors, notes, config) = logical(&Gguf::tiny_llama());
    assert!(notes.is_empty(), "{notes:?}");
    let total: u64 = tensors.iter().map(|t| t.elements).sum();
    assert_eq!(total, Gguf::TINY_LLAMA_PARAMETERS);
    let q = tensors
        .iter()
        .find(|t| t.name == "model.layers.0.self_attn.q_proj.weight")
        .unwrap();
    assert_eq!(q.stored_as.as_deref(), Some("blk.0.attn_q.weight"));
    let down = tensors
        .iter()
        .find(|t| t.name == "model.layers.0.mlp.down_proj.weight")
        .unwrap();
    assert_eq!(down.shape, vec![8, 16], "PyTorch order: [out, in]");
    let c = config.unwrap();
    assert_eq!(c["model_type"], "llama");
    assert_eq!(c["tie_word_embeddings"], true);
    assert_eq!(c["head_dim"], 4);
    assert_eq!(c["vocab_size"], 4);
    assert_eq!(c["rms_norm_eps"], 1e-5);
}

#[test]
fn per_layer_heads_that_differ_are_noted_and_left_out() {
    let mut g = Gguf::tiny_llama();
    g.set("llama.block_count", V::U32(2));
    g.set(
        "llama.attention.head_count_kv",
        V::Arr(4, vec![V::U32(2), V::U32(1)]),
    );
    let (_, notes, config) = logical(&g);
    let c = config.unwrap();
    assert!(c.get("num_key_value_heads").is_none());
    assert!(
        notes
            .iter()
            .any(|n| n.contains("`llama.attention.head_count_kv` differs between layers ([2, 1])")),
        "{notes:?}"
    );
    g.set(
        "llama.attention.head_count_kv",
        V::Arr(5, vec![V::I32(1), V::I32(1)]),
    );
    assert_eq!(logical(&g).2.unwrap()["num_key_value_heads"], 1);
}

#[test]
fn vocab_size_falls_back_to_the_tokenizer_then_the_embedding() {
    let mut g = Gguf::tiny_llama();
    g.kv.retain(|(k, _)| k != "llama.vocab_size");
    let (_, notes, config) = logical(&g);
    assert_eq!(config.unwrap()["vocab_size"], 4);
    assert!(notes[0].contains("token_embd's 4 rows"), "{notes:?}");
    g.set(
        "tokenizer.ggml.tokens",
        V::Arr(8, (0..4).map(|i| V::Str(format!("t{i}"))).collect()),
    );
    let (_, notes, config) = logical(&g);
    assert_eq!(config.unwrap()["vocab_size"], 4);
    assert!(notes.is_empty());
}

fn moe_layer(g: &mut Gguf, experts: u64, ty: u32, bytes_per_expert: usize) {
    g.set("llama.expert_count", V::U32(experts as u32));
    g.set("llama.expert_used_count", V::U32(1));
    g.tensors
        .retain(|t| !t.name.starts_with("blk.0.ffn_") || t.name == "blk.0.ffn_norm.weight");
    g.tensors
        .push(T::f32("blk.0.ffn_gate_inp.weight", &[8, experts], 0.0));
    for (name, ne) in [
        ("blk.0.ffn_gate_exps.weight", [8u64, 16, experts]),
        ("blk.0.ffn_down_exps.weight", [16, 8, experts]),
        ("blk.0.ffn_up_exps.weight", [8, 16, experts]),
    ] {
        let mut t = T::raw(name, &ne, ty, bytes_per_expert * experts as usize);
        for (i, b) in t.data.iter_mut().enumerate() {
            *b = (i / bytes_per_expert) as u8;
        }
        g.tensors.push(t);
    }
}

#[test]
fn stacked_experts_are_cut_into_exact_shares() {
    let mut g = Gguf::tiny_llama();
    moe_layer(&mut g, 3, 1, 8 * 16 * 2);
    let (tensors, _, config) = logical(&g);
    let c = config.unwrap();
    assert_eq!(c["model_type"], "mixtral");
    assert_eq!(c["num_local_experts"], 3);
    let w2: Vec<&Tensor> = tensors
        .iter()
        .filter(|t| t.name.contains("block_sparse_moe.experts.") && t.name.ends_with("w2.weight"))
        .collect();
    assert_eq!(w2.len(), 3);
    let stack = tensors.iter().map(|t| t.data_offsets.0).min().unwrap();
    for (e, t) in w2.iter().enumerate() {
        assert_eq!(
            t.name,
            format!("model.layers.0.block_sparse_moe.experts.{e}.w2.weight")
        );
        assert_eq!(t.shape, vec![8, 16]);
        assert_eq!((t.elements, t.bytes), (128, 256));
        assert_eq!(
            t.stored_as.as_deref(),
            Some(format!("blk.0.ffn_down_exps.weight [expert {e} of 3]").as_str())
        );
        assert_eq!(t.data_offsets.1 - t.data_offsets.0, 256);
        assert!(t.data_offsets.0 >= stack);
    }
    // Expert e's share holds the bytes the writer filled with e.
    let bytes = g.bytes();
    let part = read(&bytes).unwrap();
    for t in &w2 {
        let e: u8 = t.name.split('.').nth(5).unwrap().parse().unwrap();
        let start = (part.parsed.data_start + t.data_offsets.0) as usize;
        let end = (part.parsed.data_start + t.data_offsets.1) as usize;
        assert!(bytes[start..end].iter().all(|&b| b == e), "expert {e}");
    }
    // Quantized stacks: Q8_0 rows of 32, 34 bytes a block.
    let mut g = Gguf::tiny_llama();
    g.tensors.iter_mut().for_each(|_| {});
    moe_layer(&mut g, 2, 8, 0);
    for t in g.tensors.iter_mut().filter(|t| t.name.contains("_exps")) {
        t.ne[0] = 32;
        t.ne[1] = 4;
        t.data = vec![0; 34 * 4 * 2];
    }
    let (tensors, ..) = logical(&g);
    let e1 = tensors
        .iter()
        .find(|t| t.name == "model.layers.0.block_sparse_moe.experts.1.w1.weight")
        .unwrap();
    assert_eq!(
        (e1.shape.clone(), e1.bytes, e1.dtype.to_string()),
        (vec![4, 32], 136, "Q8_0".to_string())
    );
}

#[test]
fn an_empty_or_enormous_stack_is_kept_whole_not_cut() {
    for ne in [vec![0u64, 0, 1 << 40], vec![8, 16, 0], vec![8, 16]] {
        let mut g = Gguf::tiny_llama();
        let bytes = ne.iter().product::<u64>() as usize * 4;
        g.tensors
            .push(T::raw("blk.0.ffn_up_exps.weight", &ne, 0, bytes));
        let (tensors, notes, _) = logical(&g);
        assert!(
            tensors.iter().any(|t| t.name == "blk.0.ffn_up_exps.weight"),
            "{ne:?}"
        );
        assert!(notes.iter().any(|n| n.contains("not a stack")), "{notes:?}");
    }
}

#[test]
fn a_million_keys_read_in_linear_time() {
    let mut g = Gguf::tiny_llama();
    g.kv.extend((0..200_000).map(|i| (format!("k{i}"), V::U8(0))));
    let started = std::time::Instant::now();
    let part = read(&g.bytes()).unwrap();
    assert_eq!(part.parsed.kv.len(), 200_008);
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

fn deepseek(k_b_ty: u32, v_b_ty: u32, between: bool) -> Gguf {
    // A = 2 heads, C = kv_lora 32, DN = 4, DV = 32: attn_k_b [2, 32, 4] (ne [4, 32, 2]),
    // attn_v_b [2, 32, 32] (ne [32, 32, 2]).
    let mut g = Gguf::default();
    g.kv.push(("general.architecture".into(), V::str("deepseek2")));
    let size = |ty: u32, ne: &[u64]| -> usize {
        let n: u64 = ne.iter().product();
        match ty {
            0 => n as usize * 4,
            1 => n as usize * 2,
            8 => (n / 32 * 34) as usize,
            _ => unreachable!(),
        }
    };
    let k_ne = [4u64, 32, 2];
    let v_ne = [32u64, 32, 2];
    g.tensors.push(T::raw(
        "blk.0.attn_k_b.weight",
        &k_ne,
        k_b_ty,
        size(k_b_ty, &k_ne),
    ));
    if between {
        g.tensors.push(T::f32("blk.0.attn_norm.weight", &[8], 1.0));
    }
    g.tensors.push(T::raw(
        "blk.0.attn_v_b.weight",
        &v_ne,
        v_b_ty,
        size(v_b_ty, &v_ne),
    ));
    g
}

#[test]
fn deepseek_kv_b_halves_join_into_kv_b_proj() {
    let (tensors, notes, _) = logical(&deepseek(1, 1, false));
    assert_eq!(tensors.len(), 1);
    let t = &tensors[0];
    assert_eq!(t.name, "model.layers.0.self_attn.kv_b_proj.weight");
    assert_eq!(t.shape, vec![2 * (4 + 32), 32], "[A·(DN + DV), C]");
    assert_eq!(t.elements, 2 * 32 * 4 + 2 * 32 * 32);
    assert_eq!(t.bytes, t.elements * 2);
    assert_eq!(
        t.stored_as.as_deref(),
        Some("blk.0.attn_k_b.weight + blk.0.attn_v_b.weight")
    );
    assert!(notes.iter().all(|n| !n.contains("joined")), "{notes:?}");
    // Mixed types: joined, the bytes exact, the dtype noted.
    let (tensors, notes, _) = logical(&deepseek(1, 8, false));
    assert_eq!(tensors[0].bytes, 2 * 32 * 4 * 2 + 2 * 32 * 32 / 32 * 34);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("storage table counts its bytes under F16")),
        "{notes:?}"
    );
    // Something stored between them: not joined, visible under the GGUF names.
    let (tensors, notes, _) = logical(&deepseek(1, 1, true));
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"blk.0.attn_k_b.weight") && names.contains(&"blk.0.attn_v_b.weight"));
    assert!(
        notes.iter().any(|n| n.contains("could not be joined")),
        "{notes:?}"
    );
}

#[test]
fn an_unknown_architecture_keeps_the_gguf_names() {
    let mut g = Gguf::tiny_llama();
    g.set("general.architecture", V::str("mamba"));
    let (tensors, notes, config) = logical(&g);
    assert!(tensors
        .iter()
        .any(|t| t.name == "blk.0.attn_q.weight" && t.stored_as.is_none()));
    assert!(config.is_none());
    assert!(notes[0].contains("`mamba` has no name table"), "{notes:?}");
}

#[test]
fn a_part_of_a_split_opened_alone_is_refused() {
    let bytes = std::fs::read(fixture("split/llama-untied-00002-of-00003.gguf")).unwrap();
    let p = read(&bytes).unwrap().parsed;
    let m = lone_split_part(&p).unwrap();
    assert!(m.contains("part 2 of a 3-part split"), "{m}");
    let e = open_mapped(
        &fixture("split/llama-untied-00002-of-00003.gguf"),
        crate::format::map_file(&fixture("split/llama-untied-00002-of-00003.gguf")).unwrap(),
        0,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn the_scan_plan_lists_stored_extents_with_their_plain_dtypes() {
    let bytes = std::fs::read(fixture("quant-zoo.gguf")).unwrap();
    let plan = scan_plan(&bytes).unwrap();
    assert!(!plan.big_endian);
    assert_eq!(plan.extents.len(), 36);
    let plain = plan.extents.iter().filter(|e| e.2.is_some()).count();
    assert_eq!(plain, 9, "F32 x2, F16, BF16, F64, I8, I16, I32, I64");
    let be = std::fs::read(fixture("llama-untied-be.gguf")).unwrap();
    assert!(scan_plan(&be).unwrap().big_endian);
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Mutated real headers (flipped bits, cut lengths, extreme numbers written over
/// counts, lengths, dims and offsets) never panic: every outcome is a value or a typed
/// problem. Deterministic xorshift, 12,000 cases over three fixtures.
#[test]
fn mutated_headers_never_panic() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut ok, mut refused) = (0, 0);
    for name in ["deepseek2.gguf", "llama-untied-be.gguf", "quant-zoo.gguf"] {
        let original = std::fs::read(fixture(name)).unwrap();
        let header = read(&original).unwrap().parsed.data_start as usize;
        for _ in 0..4_000 {
            let mut bytes = original.clone();
            match rng.next() % 4 {
                0 => {
                    let i = (rng.next() as usize) % header;
                    bytes[i] ^= 1 << (rng.next() % 8);
                }
                1 => bytes.truncate((rng.next() as usize) % bytes.len()),
                2 => {
                    let i = (rng.next() as usize) % (header - 8);
                    let v = [0u64, 1, u64::MAX, 1 << 63, 1 << 32, 255, 13][rng.next() as usize % 7];
                    bytes[i..i + 8].copy_from_slice(&v.to_le_bytes());
                }
                _ => {
                    let i = (rng.next() as usize) % header;
                    bytes[i] = rng.next() as u8;
                }
            }
            let len = bytes.len() as u64;
            let outcome = read_part(&bytes, len, 0).and_then(|p| finish(vec![p], &[len]));
            match outcome {
                Ok(_) => ok += 1,
                Err(Problem::Bad(m)) => {
                    assert!(!m.contains('\n'), "one line: {m}");
                    refused += 1
                }
                Err(Problem::Need(n)) => panic!("a whole file asked for {n} bytes"),
            }
            // The same bytes as a prefix of a longer file.
            let cut = (rng.next() as usize) % bytes.len().max(1);
            let _ = parse_prefix(&bytes[..cut], len, 0);
        }
    }
    assert!(refused > 6_000, "{ok} accepted, {refused} refused");
    let _ = reader::MAX_HEADER_BYTES;
}
