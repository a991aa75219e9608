// TEMPORARY STUB until the real module lands
use std::collections::BTreeMap;
use std::path::Path;
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("stub")]
    Stub,
}
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}
pub fn read_npy(_p: &Path) -> Result<Array, NpyError> {
    Err(NpyError::Stub)
}
pub fn write_npy(_p: &Path, _s: &[usize], _d: &[f32]) -> Result<(), NpyError> {
    Err(NpyError::Stub)
}
pub fn read_npz(_p: &Path) -> Result<BTreeMap<String, Array>, NpyError> {
    Err(NpyError::Stub)
}
