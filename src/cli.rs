//! Command-line types (clap derive). No logic here: see [`crate::app`].

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Check a model checkpoint's parameter counts against its real weights.
///
/// paramaudit reads safetensors headers (never the weights), sorts every tensor into a
/// bucket, computes what the analytic formula predicts from config.json, and explains
/// the difference parameter by parameter.
///
/// Exit codes: 0 report produced (check: expectations hold; verify: clean); 1 check found
/// drift, verify found a hash mismatch or NaN/Inf, or the report could not be written
/// (a closed pipe never changes the code); 2 input or usage error (bad file, bad config,
/// bad flag, model not found or not cached, malformed expectations). With several models,
/// the worst code of them.
///
/// Environment: HF_HUB_CACHE, HF_HOME (cache at $HF_HOME/hub), HF_HUB_OFFLINE,
/// HF_ENDPOINT, HF_TOKEN, HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT, as in the Python
/// huggingface_hub; NO_COLOR and CLICOLOR_FORCE for colour.
#[derive(Debug, Parser)]
#[command(name = "paramaudit", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// Colour verdicts, drift and flagged tensors: `auto` (on a terminal, unless NO_COLOR
    /// is set; CLICOLOR_FORCE forces it), `always` or `never`.
    ///
    /// Example: --color never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, ignore_case = true)]
    pub color: ColorChoice,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit one or more checkpoints: buckets, formula, and the itemised gap.
    ///
    /// Example: paramaudit inspect ./bert-base-uncased --format json | jq .totals
    #[command(
        after_help = "Examples:\n  paramaudit inspect bert-base-uncased\n  paramaudit inspect bert-base-uncased --header-only --json | jq .totals\n  paramaudit inspect ./bert-base-uncased --save-header expected/bert-base-uncased\n  paramaudit inspect model.safetensors --config config.json --tensors\n  paramaudit inspect ./sharded/model.safetensors.index.json --format markdown\n  paramaudit inspect models/*/ --format jsonl\n  paramaudit inspect ./Llama-3-8B-Q4_K_M.gguf ./pytorch_model.bin\n  paramaudit inspect owner/repo-GGUF:Q4_K_M --header-only"
    )]
    Inspect(InspectArgs),
    /// Hold a checkpoint to stored expectations: exit 0 when they hold, 1 on drift, 2 on
    /// an input error. For CI.
    ///
    /// Example: paramaudit check ./model --expect expected.json
    #[command(
        after_help = "Examples:\n  paramaudit inspect ./model --json > expected.json   # once, reviewed\n  paramaudit check ./model --expect expected.json\n  paramaudit check bert-base-uncased --header-only --expect pins.json --format markdown\n\nExit codes: 0 every expectation holds; 1 drift; 2 input error."
    )]
    Check(CheckArgs),
    /// The structural difference between two checkpoints: tensors only in one, changed
    /// shape or dtype, per-bucket and total deltas.
    ///
    /// Example: paramaudit diff bert-base-uncased ./my-classifier
    #[command(
        after_help = "Examples:\n  paramaudit diff ./base ./finetuned\n  paramaudit diff bert-base-uncased ./my-classifier --json | jq .only_in_b"
    )]
    Diff(DiffArgs),
    /// Read every weight once: sha256 of each file against the Hub's LFS id (or --sha256),
    /// and NaN, Inf, zeros, subnormals, min, max, mean, std of every tensor.
    ///
    /// Example: paramaudit verify ./model
    #[command(
        after_help = "Examples:\n  paramaudit verify bert-base-uncased\n  paramaudit verify ./model.safetensors --sha256 68d45e234eb4a928074dfd868cead0219ab85354cc53d20e772753c6bb9169d3\n  paramaudit verify ./sharded --sha256 model-00001-of-00002.safetensors=<hex> --tensors\n  paramaudit verify ./model --expect pins.json --json | jq .flags\n\nExit codes: 0 clean; 1 a hash mismatches or a tensor holds NaN/Inf (see --allow-nonfinite); 2 input error."
    )]
    Verify(VerifyArgs),
    /// Print the analytic derivation for a config.json, step by step, with no checkpoint.
    ///
    /// Example: paramaudit formula ./bert-base-uncased/config.json
    #[command(
        after_help = "Examples:\n  paramaudit formula config.json\n  paramaudit formula ./bert-base-uncased          # the directory's config.json\n  paramaudit formula config.json --json | jq .weights_only"
    )]
    Formula(FormulaArgs),
    /// List every model family: its model_types, what its formula covers, its norm.
    ///
    /// Example: paramaudit families --json | jq '.[].name'
    #[command(
        after_help = "Examples:\n  paramaudit families\n  paramaudit families --format markdown"
    )]
    Families(FamiliesArgs),
    /// Print a shell completion script on stdout.
    ///
    /// Example: paramaudit completions bash > ~/.local/share/bash-completion/completions/paramaudit
    #[command(
        after_help = "Install:\n  bash: paramaudit completions bash > ~/.local/share/bash-completion/completions/paramaudit\n  zsh:  paramaudit completions zsh > \"${fpath[1]}/_paramaudit\"\n  fish: paramaudit completions fish > ~/.config/fish/completions/paramaudit.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout.
    ///
    /// Example: paramaudit man > ~/.local/share/man/man1/paramaudit.1
    #[command(
        after_help = "Install:\n  mkdir -p ~/.local/share/man/man1 && paramaudit man > ~/.local/share/man/man1/paramaudit.1 && man paramaudit"
    )]
    Man,
}

/// How to reach a Hub model: shared by every command that takes a model.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Hub revision: a branch, a tag (`refs/pr/1` too) or a 40-hex commit; Hub ids only
    /// (default: main).
    ///
    /// Example: --revision 86b5e0934494bd15c9632b12f734a8a67f723594
    #[arg(long)]
    pub revision: Option<String>,

    /// Never touch the network: use the Hugging Face cache or fail (same as
    /// HF_HUB_OFFLINE=1).
    ///
    /// Example: --offline
    #[arg(long)]
    pub offline: bool,

    /// Print no diagnostics on stderr (errors are still printed).
    ///
    /// Example: --quiet
    #[arg(long, short)]
    pub quiet: bool,

    /// Hub requests in flight at once, shared by every model of the command (default 16;
    /// also PARAMAUDIT_CONCURRENCY).
    ///
    /// Example: --concurrency 32
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: Option<u16>,

    /// The model family to read the checkpoint as, whatever config.json's model_type or
    /// the tensor names suggest (a name or a model_type; see `paramaudit families`).
    ///
    /// Example: --family roberta
    #[arg(long, value_name = "NAME")]
    pub family: Option<String>,
}

/// The output format, with `--json` as a shortcut.
#[derive(Debug, clap::Args)]
pub struct FormatArgs {
    /// Output format: a text table, JSON (the stable contract), JSON Lines (one compact
    /// document per line) or Markdown. Any case.
    ///
    /// Example: --format json
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, ignore_case = true)]
    pub format: OutputFormat,

    /// Shortcut for `--format json`.
    ///
    /// Example: --json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl FormatArgs {
    /// The format chosen.
    pub fn get(&self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else {
            self.format
        }
    }
}

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// One or more local paths or Hugging Face model ids. A path: a checkpoint file
    /// (.safetensors, .gguf or a split GGUF's part, pytorch_model.bin, .pt, .pth), a shard
    /// index, a directory holding one (model.safetensors, its index, pytorch_model.bin, its
    /// index, a lone GGUF), or headers saved with --save-header; a path that exists is
    /// always read as a path. A Hub id may name a GGUF by its quantization tag after a
    /// colon (owner/repo:Q4_K_M). Several models are read in parallel and reported in the
    /// order given, followed by a summary table.
    ///
    /// Example: ./model.safetensors, ./model-Q4_K_M.gguf, bert-base-uncased, owner/repo-GGUF:Q8_0
    #[arg(required = true, num_args = 1.., value_name = "MODEL")]
    pub models: Vec<String>,

    /// How to get a Hub model.
    #[command(flatten)]
    pub fetch: FetchArgs,

    /// For a Hub model not in the cache: read only each file's header with HTTP range
    /// requests (a few tens of kilobytes for safetensors; GGUF headers, which hold the
    /// tokenizer, in ranges that double until whole), never the weights. The report is the
    /// same, marked header-only. PyTorch weights cannot be read so (the error says what a
    /// download takes).
    ///
    /// Example: --header-only
    #[arg(long)]
    pub header_only: bool,

    /// config.json to use instead of the one beside the weights. Without any config the
    /// dimensions are inferred from tensor shapes (and the report says so).
    ///
    /// Example: --config ./bert-base-uncased/config.json
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,

    /// Also list every tensor with its bucket, role, dtype, shape and element count
    /// (the JSON always includes them).
    ///
    /// Example: --tensors
    #[arg(long)]
    pub tensors: bool,

    /// Save the checkpoint's safetensors headers (no weights) and its config.json into
    /// DIR: model.safetensors, or the shard index and one header per shard. A few
    /// kilobytes that `inspect`, `check` and `diff` read back as the model, header-only.
    /// One model only.
    ///
    /// Example: --save-header ./expected/bert-base-uncased
    #[arg(long, value_name = "DIR")]
    pub save_header: Option<PathBuf>,
}

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The model to check: a local path or a Hub model id, as for `inspect`.
    ///
    /// Example: ./out/checkpoint-final
    pub model: String,

    /// What to hold it to: a report saved from `inspect --format json` (compared in full,
    /// tensor by tensor), or a hand-written expectations file (see the README).
    ///
    /// Example: --expect expected/bert-base-uncased.json
    #[arg(long, value_name = "FILE")]
    pub expect: PathBuf,

    /// How to get a Hub model.
    #[command(flatten)]
    pub fetch: FetchArgs,

    /// For a Hub model not in the cache: read only the headers remotely (see `inspect`).
    ///
    /// Example: --header-only
    #[arg(long)]
    pub header_only: bool,

    /// config.json to use instead of the one beside the weights.
    ///
    /// Example: --config config.json
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first checkpoint (path or Hub id).
    ///
    /// Example: bert-base-uncased
    pub a: String,

    /// The second checkpoint (path or Hub id).
    ///
    /// Example: ./my-finetuned-classifier
    pub b: String,

    /// How to get Hub models (applies to both).
    #[command(flatten)]
    pub fetch: FetchArgs,

    /// For Hub models not in the cache: read only the headers remotely (see `inspect`).
    ///
    /// Example: --header-only
    #[arg(long)]
    pub header_only: bool,

    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The model to verify: a local path or a Hub model id, as for `inspect`.
    ///
    /// Example: ./model.safetensors
    pub model: String,

    /// How to get a Hub model (verify always reads every byte).
    #[command(flatten)]
    pub fetch: FetchArgs,

    /// Expected sha256: HEX for a single-file checkpoint, or FILE=HEX per shard
    /// (repeatable). Without it, files in the Hugging Face cache are checked against their
    /// blob name, the Hub's LFS id.
    ///
    /// Example: --sha256 model-00001-of-00002.safetensors=0a1b...
    #[arg(long, value_name = "HEX|FILE=HEX")]
    pub sha256: Vec<String>,

    /// Take the expected sha256 from a `check` expectations file (its `sha256` key).
    ///
    /// Example: --expect pins.json
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,

    /// Do not fail (exit 1) on NaN or Inf values; they are still reported.
    ///
    /// Example: --allow-nonfinite
    #[arg(long)]
    pub allow_nonfinite: bool,

    /// Also list the statistics of every tensor (the JSON always includes them).
    ///
    /// Example: --tensors
    #[arg(long)]
    pub tensors: bool,

    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Arguments of `formula`.
#[derive(Debug, clap::Args)]
pub struct FormulaArgs {
    /// The config.json to derive counts from, or a model directory holding one.
    ///
    /// Example: ./bert-base-uncased/config.json
    pub config: PathBuf,

    /// The family to derive with, when config.json has no model_type (a name or a
    /// model_type; see `paramaudit families`).
    ///
    /// Example: --family bert
    #[arg(long, value_name = "NAME")]
    pub family: Option<String>,

    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Arguments of `families`.
#[derive(Debug, clap::Args)]
pub struct FamiliesArgs {
    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    ///
    /// Example: bash
    #[arg(value_enum, ignore_case = true)]
    pub shell: clap_complete::Shell,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text tables.
    Table,
    /// JSON (stable keys, see the README and docs/schema/).
    Json,
    /// JSON Lines: one compact JSON document per line (one per model for `inspect`).
    Jsonl,
    /// GitHub-flavoured Markdown.
    Markdown,
}

/// When to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it on).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl From<OutputFormat> for crate::render::Format {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Table => crate::render::Format::Table,
            OutputFormat::Json => crate::render::Format::Json,
            OutputFormat::Jsonl => crate::render::Format::Jsonl,
            OutputFormat::Markdown => crate::render::Format::Markdown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn format_accepts_any_case_and_json_is_a_shortcut() {
        let cli = Cli::try_parse_from(["paramaudit", "inspect", "m", "--format", "JSON"]).unwrap();
        let Command::Inspect(a) = cli.command else {
            panic!("inspect")
        };
        assert_eq!(a.format.get(), OutputFormat::Json);
        let cli =
            Cli::try_parse_from(["paramaudit", "check", "m", "--expect", "e", "--json"]).unwrap();
        let Command::Check(a) = cli.command else {
            panic!("check")
        };
        assert_eq!(a.format.get(), OutputFormat::Json);
    }

    #[test]
    fn verify_offers_no_header_only_flag() {
        let help = Cli::command()
            .find_subcommand_mut("verify")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(!help.contains("--header-only"), "{help}");
        assert!(Cli::try_parse_from(["paramaudit", "verify", "m", "--header-only"]).is_err());
    }
}
